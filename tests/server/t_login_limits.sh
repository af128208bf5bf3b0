#!/usr/bin/env bash
# Login limits (issue 12): a failure is reserved before scrypt runs, so 20
# concurrent wrong passwords cannot get past the limit; the wait is per
# (account, source) and grows, so one source's wait does not lock the
# account out for another; the per-account ceiling slows unknown sources
# but not known ones and never locks out; a password reset clears it all;
# the audit log records each wait with its source.
#
# Two sources from loopback: curl --interface 127.0.0.N, and 127.0.0.1 as a
# trusted proxy whose X-Forwarded-For names the client (the address the
# audit log uses).  Time is moved by editing the limit rows (as the
# application role), never by sleeping.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/t_auth_lib.sh"
load_fixture

# The private database is made at the schema just before the login-limits
# migration first, with a day-long account lockout of the old scheme, and
# then upgraded: that migration must end it.
LIMITS_MIG=$(basename "$(ls "$KE_SRC"/schema/[0-9][0-9][0-9]_login_source_limits.sql)")
mkdir -p "$TW/schema011"
for f in "$KE_SRC"/schema/[0-9][0-9][0-9]_*.sql; do
  n=$(basename "$f"); [ $((10#${n:0:3})) -lt $((10#${LIMITS_MIG:0:3})) ] && cp "$f" "$TW/schema011/"
done
full_priv_escrowd=$(declare -f priv_escrowd)
priv_escrowd() {
  env ESCROWD_CONFIG=/dev/null ESCROWD_SCHEMA_DIR="$TW/schema011" ESCROWD_DB_DSN="$PRIV_APP_DSN" \
      ESCROWD_DB_OWNER_DSN="$PRIV_OWN_DSN" "$KE_ESCROWD" "$@"
}
make_private_db
eval "$full_priv_escrowd"
app_psql "$PRIV_APP_DSN" -c "INSERT INTO login_failures (kind, key, failures, last_failure, locked_until)
  VALUES ('user', 'carol', 9, now(), now() + interval '1 day'),
         ('addr', '192.0.2.1', 30, now(), now() + interval '1 day')"
priv_escrowd migrate >"$TW/migrate012.log" 2>&1 || fail "migrate to $LIMITS_MIG: $(cat "$TW/migrate012.log")"
[ "$(app_psql "$PRIV_APP_DSN" -c "SELECT kind || ':' || (locked_until IS NULL) FROM login_failures ORDER BY kind")" = \
  "$(printf 'addr:false\nuser:true')" ] || fail "$LIMITS_MIG did not end only the account-wide lockout"

LOG2N=13   # scrypt long enough (8 MiB) that 20 concurrent checks overlap
PW_A='alice-password-0123'
PW_B='bob-password-0123456'

# add_user NAME ROLE PASSWORD: an account with that password (scrypt as
# escrowd stores it: N = 2^LOG2N, r = 8, p = 1, 32 bytes).
add_user() {
  local row
  row=$(python3 -c 'import hashlib, os, sys
s = os.urandom(16)
h = hashlib.scrypt(sys.argv[1].encode(), salt=s, n=1 << int(sys.argv[2]), r=8, p=1,
                   maxmem=1 << 30, dklen=32)
print("\\x%s \\x%s" % (s.hex(), h.hex()))' "$3" "$LOG2N")
  app_psql "$PRIV_APP_DSN" -c "INSERT INTO users (name, role, pw_salt, pw_hash, pw_n, pw_r, pw_p)
    VALUES ('$1', '$2', '${row% *}', '${row#* }', $((1 << LOG2N)), 8, 1)" >/dev/null
}
add_user alice helpdesk "$PW_A"
add_user bob auditor "$PW_B"
add_user carol auditor "$PW_B"
mint_user "$PRIV_APP_DSN" root admin
ADMIN=$(mint_token "$PRIV_APP_DSN" root)

start_private lim ESCROWD_PASSWORD_SCRYPT_LOG2N=$LOG2N ESCROWD_THREADS=8 \
  ESCROWD_LOGIN_MAX_FAILURES=3 ESCROWD_LOGIN_MAX_ADDRESS_FAILURES=0 \
  ESCROWD_LOGIN_LOCKOUT=60 ESCROWD_LOGIN_MAX_DELAY=300 \
  ESCROWD_LOGIN_ACCOUNT_MAX_FAILURES=8 ESCROWD_LOGIN_ACCOUNT_DELAY=30 \
  ESCROWD_TRUSTED_PROXIES=127.0.0.1
U=http://127.0.0.1:$PORT_lim

body() { printf '{"user":"%s","password":"%s"}' "$1" "$2"; }
from() { jpost "$U/v1/login" "" "$(body "$2" "$3")" --interface "$1"; }      # IP USER PW
via() { jpost "$U/v1/login" "" "$(body "$2" "$3")" -H "X-Forwarded-For: $1"; } # XFF USER PW
retry_after() { sed -n 's/^Retry-After: *\([0-9]*\).*/\1/Ip' "$HDRF" | tr -d '\r'; }
src_row() {  # ACCOUNT SOURCE: failures and seconds left to wait
  app_psql "$PRIV_APP_DSN" -c "SELECT failures || ' ' || coalesce(ceil(extract(epoch FROM
    wait_until - now()))::int, 0) FROM login_source_failures WHERE account = '$1' AND source = '$2'"
}
# The wait of ACCOUNT SOURCE is over (as if its time had passed).
wait_over() {
  app_psql "$PRIV_APP_DSN" -c "UPDATE login_source_failures SET wait_until = now() - interval '1 s',
    last_failure = now() - interval '2 s' WHERE account = '$1' AND source = '$2'" >/dev/null
}

from 127.0.0.2 carol "$PW_B"
expect_status 200 "carol, locked for a day by the old scheme, after the upgrade"
ok "schema $LIMITS_MIG ends the old scheme's account-wide lockouts and keeps the per-address ones"

# ---- 20 concurrent wrong passwords from one source ------------------------------
pids=()
for i in $(seq 1 20); do
  curl -sS --max-time 30 -o /dev/null -w '%{http_code}\n' --interface 127.0.0.2 \
    -H 'Content-Type: application/json' --data-binary "$(body alice "wrong-password-$i")" \
    "$U/v1/login" >"$TW/par.$i" 2>&1 &
  pids+=($!)
done
wait "${pids[@]}"  # the curls only (the daemon is a child too)
n401=$(cat "$TW"/par.* | grep -c '^401$' || true)
n429=$(cat "$TW"/par.* | grep -c '^429$' || true)
[ "$n401" = 3 ] && [ "$n429" = 17 ] ||
  fail "20 concurrent wrong passwords: $n401 x 401, $n429 x 429 (want 3 and 17): $(cat "$TW"/par.* | sort | uniq -c)"
[ "$(src_row alice 127.0.0.2 | cut -d' ' -f1)" = 3 ] ||
  fail "failures recorded for (alice, 127.0.0.2): $(src_row alice 127.0.0.2)"
[ "$(app_psql "$PRIV_APP_DSN" -c "SELECT failures FROM login_failures WHERE kind = 'user' AND key = 'alice'")" = 3 ] ||
  fail "the per-account count is not 3"
from 127.0.0.2 alice "$PW_A"
expect_status 429 "the right password from the waiting source"
expect_error too_many_attempts "waiting source"
ra=$(retry_after)
[ -n "$ra" ] && [ "$ra" -ge 50 ] && [ "$ra" -le 60 ] || fail "Retry-After of the first wait: '$ra'"
grep -q "may retry in $ra seconds" "$BODYF" || fail "the 429 message lacks the wait: $(cat "$BODYF")"
ok "20 concurrent wrong passwords: exactly 3 counted (401), 17 refused (429); the right password waits too"

# ---- another source is not locked out ------------------------------------------
from 127.0.0.3 alice "$PW_A"
expect_status 200 "alice from 127.0.0.3 while 127.0.0.2 waits"
via 203.0.113.5 alice "$PW_A"
expect_status 200 "alice from 203.0.113.5 (through the trusted proxy)"
via 127.0.0.2 alice "$PW_A"
expect_status 429 "alice from 127.0.0.2 through the proxy: the same source as the audit log's"
from 127.0.0.2 alice "$PW_A"
expect_status 429 "127.0.0.2 still waits after other sources' logins"
ok "one source's wait does not lock the account out for another source (interface and X-Forwarded-For)"

# ---- the wait grows, up to login_max_delay ------------------------------------
wait_over alice 127.0.0.2
from 127.0.0.2 alice wrong-password-21
expect_status 401 "a failure after the wait"
set -- $(src_row alice 127.0.0.2)
[ "$1" = 4 ] && [ "$2" -ge 110 ] && [ "$2" -le 120 ] || fail "the second wait is not doubled: $*"
app_psql "$PRIV_APP_DSN" -c "UPDATE login_source_failures SET failures = 40 WHERE account = 'alice'
  AND source = '127.0.0.2'" >/dev/null
wait_over alice 127.0.0.2
from 127.0.0.2 alice wrong-password-22
expect_status 401 "a failure after many"
from 127.0.0.2 alice "$PW_A"
expect_status 429 "the right password during the capped wait"
ra=$(retry_after)
[ -n "$ra" ] && [ "$ra" -ge 290 ] && [ "$ra" -le 300 ] || fail "the wait is not capped at 300 s: '$ra'"
ok "the wait doubles per further failure (60, 120 s) and stops at login_max_delay"

# ---- the per-account ceiling slows unknown sources, never known ones -----------
# 127.0.0.4 logs in first: a known source of bob's.  Then 8 sources guess
# once each (under every per-source limit): the ceiling is reached.
from 127.0.0.4 bob "$PW_B"
expect_status 200 "bob from his usual place"
for i in $(seq 1 8); do
  via "198.51.100.$i" bob "wrong-password-$i"
  expect_status 401 "distributed guess $i"
done
via 198.51.100.9 bob "wrong-password-9"
expect_status 429 "a new source past the per-account ceiling"
ra=$(retry_after)
[ -n "$ra" ] && [ "$ra" -ge 1 ] && [ "$ra" -le 30 ] || fail "Retry-After of the ceiling: '$ra'"
via 198.51.100.10 bob "$PW_B"
expect_status 429 "the right password from a new source past the ceiling (slowed)"
from 127.0.0.4 bob "$PW_B"
expect_status 200 "bob's known source past the ceiling"
from 127.0.0.4 bob wrong-password-x
expect_status 401 "a known source's failure past the ceiling"
app_psql "$PRIV_APP_DSN" -c "UPDATE login_failures SET locked_until = now() WHERE kind = 'user'
  AND key = 'bob'" >/dev/null
via 198.51.100.10 bob "$PW_B"
expect_status 200 "a new source once the ceiling's delay has passed (slowed, not locked out)"
ok "the per-account ceiling slows new sources to one per login_account_delay, known sources not at all"

# ---- a password reset clears every source's state --------------------------------
jpost "$U/v1/users/alice/password" "$ADMIN" '{"password":"alice-new-password-01"}'
expect_status 200 "reset alice's password"
[ "$(app_psql "$PRIV_APP_DSN" -c "SELECT count(*) FROM login_source_failures WHERE account = 'alice'")" = 0 ] ||
  fail "the reset left per-source rows"
from 127.0.0.2 alice alice-new-password-01
expect_status 403 "the waiting source after the reset (the new password must be changed, no 429)"
expect_error password_change_required "after the reset"
ok "a password reset ends every source's wait"

# ---- the audit log records the waits with their source ---------------------------
for i in $(seq 1 100); do
  app_psql "$PRIV_APP_DSN" -c "SELECT convert_from(leaf, 'UTF8') FROM audit_log UNION ALL
    SELECT convert_from(leaf_head || '\x2c'::bytea || leaf_tail, 'UTF8') FROM audit_queue" >"$TW/audit.txt"
  grep -q '"user.password_reset"' "$TW/audit.txt" && break
  sleep 0.1
done
python3 - "$TW/audit.txt" <<'PY' || fail "audit log: $(cat "$TW/audit.txt" | grep auth.login | head -40)"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
def fails(obj, src=None):
    return [e for e in ev if e.get("action") == "auth.login" and e.get("object") == obj
            and e.get("outcome") == "failure" and (src is None or e.get("src") == src)]
a = [e for e in fails("user:alice", "127.0.0.2") if e["details"]["reason"] == "bad_password"]
assert len(a) == 5, len(a)  # 3 concurrent, 2 after waits; no event for a 429
waits = sorted(e["details"].get("locked_for", 0) for e in a)
assert waits == [0, 0, 60, 120, 300], waits
assert all(e["details"]["limit"] == "source" for e in a if "locked_for" in e["details"])
b = [e for e in fails("user:bob", "198.51.100.8") if e["details"].get("limit") == "account"]
assert len(b) == 1 and b[0]["details"]["locked_for"] == 30, b
PY
ok "the audit log records each failure that starts a wait (locked_for, limit) with its source"
stop_daemon lim
