#!/usr/bin/env bash
# escrowctl's online account commands end to end against a real escrowd:
# login (stored 0700/0600, nothing secret printed, one-time password change,
# pinned CA over HTTPS), user add|list|set-role|disable|enable|reset-password
# (and the rehash of a password stored under another scrypt cost), token
# create|list|revoke, logout, ESCROWCTL_TOKEN, and the exit codes of every
# failure (1 refused, 2 usage, 4 unreachable/TLS, 5 not logged in/forbidden).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/t_auth_lib.sh"
load_fixture
: "${KE_ESCROWCTL:?}"
S=$$
DSN=$ESCROWD_DB_DSN
ADM=ctladm-$S HD=ctlhd-$S CU=ctlcust-$S

# An admin with a known password, made through the API by a minted admin.
mint_user "$DSN" "ctlboot-$S" admin
BOOT=$(mint_token "$DSN" "ctlboot-$S")
printf '%s\n' 'ctl-admin-password-1' >"$TW/adm.pw"
jpost "$MAIN/v1/users" "$BOOT" "{\"name\":\"$ADM\",\"role\":\"admin\",\"password\":\"ctl-admin-password-1\"}"
expect_status 201 "create the ctl admin"

ctl() {  # CONFIG-DIR args... : sets RC, output in $TW/out, $TW/err
  local cfg=$1; shift
  RC=0
  env -u ESCROWCTL_TOKEN XDG_CONFIG_HOME="$cfg" "$KE_ESCROWCTL" "$@" >"$TW/out" 2>"$TW/err" || RC=$?
}
expect_rc() {  # rc what
  [ "$RC" = "$1" ] || fail "$2: exit $RC, want $1: $(cat "$TW/err")"
}
no_secret() {  # string what: not in stdout/stderr of the last command
  grep -qF -- "$1" "$TW/out" "$TW/err" && fail "$2 printed"
  true
}

# ---- login ---------------------------------------------------------------------
A=$TW/cfg-admin
ctl "$A" login --server "$MAIN" --user "$ADM" --password-file "$TW/adm.pw"
expect_rc 0 "login"
no_secret ctl-admin-password-1 "the password"
[ "$(stat -c %a "$A/escrowctl")" = 700 ] || fail "config dir mode"
[ "$(stat -c %a "$A/escrowctl/login.json")" = 600 ] || fail "login file mode"
TOKEN=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$A/escrowctl/login.json")
no_secret "$TOKEN" "the token"
grep -q "$MAIN" "$A/escrowctl/login.json" || fail "server not stored"
printf 'wrong-password-12\n' >"$TW/bad.pw"
ctl "$TW/cfg-bad" login --server "$MAIN" --user "$ADM" --password-file "$TW/bad.pw"
expect_rc 1 "login with a wrong password"
grep -q 'invalid_credentials' "$TW/err" || fail "no clear message: $(cat "$TW/err")"
[ ! -e "$TW/cfg-bad/escrowctl/login.json" ] || fail "a failed login stored something"
ok "login stores the token 0600 in a 0700 dir and prints no secret; a wrong password exits 1"

# ---- users ----------------------------------------------------------------------
printf '%s\n' 'ctl-helpdesk-pass-1' >"$TW/hd.pw"
ctl "$A" user add "$HD" --role helpdesk --password-file "$TW/hd.pw"
expect_rc 0 "user add helpdesk"
no_secret ctl-helpdesk-pass-1 "a given password"
IDX=$(app_psql "$DSN" -c "SELECT min(i) FROM generate_series(1, 255) i WHERE i NOT IN
        (SELECT custodian_index FROM users WHERE custodian_index IS NOT NULL)")
ctl "$A" user add "$CU" --role custodian --custodian-index "$IDX"
expect_rc 0 "user add custodian"
OTP=$(tail -n1 "$TW/out")
[ ${#OTP} -ge 20 ] || fail "no one-time password: $(cat "$TW/out")"
ctl "$A" user add "$CU" --role auditor
expect_rc 1 "user add of an existing name"
grep -q conflict "$TW/err" || fail "duplicate: $(cat "$TW/err")"
ctl "$A" user add badrole-$S --role root
expect_rc 1 "user add with a bad role"
ctl "$A" user list
expect_rc 0 "user list"
grep -q "^$HD  *helpdesk" "$TW/out" && grep -q "^$CU  *custodian  *$IDX " "$TW/out" || fail "user list: $(cat "$TW/out")"
ctl "$A" user set-role "$HD" --role auditor
expect_rc 0 "set-role"
grep -q 'role auditor (was helpdesk)' "$TW/out" || fail "set-role output"
ctl "$A" user disable "$HD"
expect_rc 0 "disable"
ctl "$A" user list --json
python3 -c 'import json,sys; u={x["name"]: x for x in json.load(open(sys.argv[1]))["users"]}; assert u[sys.argv[2]]["disabled"] and u[sys.argv[2]]["role"] == "auditor"' \
  "$TW/out" "$HD" || fail "list --json after disable"
ctl "$A" user enable "$HD"
expect_rc 0 "enable"
ctl "$A" user disable "nobody-$S"
expect_rc 1 "disable an unknown user"
ctl "$A" user set-person "$HD" --person "p-$S"
expect_rc 0 "set-person"
grep -q "User $HD is now person p-$S." "$TW/out" || fail "set-person output: $(cat "$TW/out")"
[ "$(app_psql "$DSN" -c "SELECT person FROM users WHERE name = '$HD'")" = "p-$S" ] || fail "person not stored"
ctl "$A" user set-person "$HD" --person "-bad"
expect_rc 1 "set-person with a bad id"
ctl "$A" user set-person "$HD"
expect_rc 2 "set-person without --person"
ctl "$A" user disable --person "p-$S" "$HD"
expect_rc 2 "--person on disable"
ok "user add (given and one-time password), list, set-role, set-person, disable, enable; errors exit 1"

# ---- the custodian's first login replaces the one-time password -----------------
C=$TW/cfg-cust
printf '%s\n' "$OTP" >"$TW/otp.pw"
printf '%s\n' 'custodian-new-pass-1' >"$TW/new.pw"
ctl "$C" login --server "$MAIN" --user "$CU" --password-file "$TW/otp.pw"
expect_rc 2 "one-time password without a new one (no terminal)"
ctl "$C" login --server "$MAIN" --user "$CU" --password-file "$TW/otp.pw" --new-password-file "$TW/new.pw"
expect_rc 0 "login replacing the one-time password"
grep -q 'role custodian' "$TW/out" || fail "login output: $(cat "$TW/out")"
ctl "$C" user list
expect_rc 5 "a custodian listing users"
grep -q forbidden "$TW/err" || fail "forbidden not said: $(cat "$TW/err")"
ok "one-time password replaced at the first login; the wrong role exits 5"

# ---- an administrator resets a password ----------------------------------------
CTOK=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["token"])' "$C/escrowctl/login.json")
jcall GET "$MAIN/v1/retrievals" "$CTOK"
expect_status 200 "the custodian's session before the reset"
ctl "$C" user reset-password "$CU"
expect_rc 5 "a custodian resetting a password"
ctl "$A" user reset-password "nobody-$S"
expect_rc 1 "reset of an unknown user"
grep -q not_found "$TW/err" || fail "unknown user: $(cat "$TW/err")"
ctl "$A" user reset-password "$CU"
expect_rc 0 "reset-password"
grep -q "Password of $CU reset; 1 login session(s) revoked." "$TW/out" || fail "reset output: $(cat "$TW/out")"
OTP2=$(tail -n1 "$TW/out")
[ ${#OTP2} -ge 20 ] && [ "$OTP2" != "$OTP" ] || fail "no new one-time password: $(cat "$TW/out")"
jcall GET "$MAIN/v1/retrievals" "$CTOK"
expect_status 401 "the custodian's session after the reset"
ctl "$TW/cfg-c2" login --server "$MAIN" --user "$CU" --password-file "$TW/new.pw"
expect_rc 1 "login with the password from before the reset"
printf '%s\n' "$OTP2" >"$TW/otp2.pw"
ctl "$TW/cfg-c2" login --server "$MAIN" --user "$CU" --password-file "$TW/otp2.pw"
expect_rc 2 "the reset password must be replaced"
printf '%s\n' 'custodian-new-pass-2' >"$TW/new2.pw"
ctl "$TW/cfg-c2" login --server "$MAIN" --user "$CU" --password-file "$TW/otp2.pw" --new-password-file "$TW/new2.pw"
expect_rc 0 "login replacing the reset password"
# A given password (never printed) works the same way.
printf '%s\n' 'given-reset-pass-3' >"$TW/given.pw"
ctl "$A" user reset-password --password-file "$TW/given.pw" "$CU"
expect_rc 0 "reset-password --password-file"
no_secret given-reset-pass-3 "a given reset password"
grep -q "One-time password" "$TW/out" && fail "a given password is not a generated one"
[ "$(app_psql "$DSN" -c "SELECT count(*) FROM (SELECT convert_from(leaf, 'UTF8') AS l FROM audit_log
      UNION ALL SELECT convert_from(leaf_head || '\\x2c'::bytea || leaf_tail, 'UTF8') FROM audit_queue) e
      WHERE l LIKE '%\"user.password_reset\"%' AND l LIKE '%user:$CU%'")" = 2 ] ||
  fail "resets not audited"
ok "user reset-password: admin only, sessions revoked, one-time or given password, audited"

# ---- a password stored under another scrypt cost is rehashed at login -------------
RH=ctlrh-$S
python3 - "$RH" >"$TW/rh.sql" <<'PY'
import hashlib, os, sys
salt = os.urandom(16)
h = hashlib.scrypt(b"rehash-me-password-1", salt=salt, n=1024, r=8, p=1, dklen=32)
print("INSERT INTO users (name, role, pw_salt, pw_hash, pw_n, pw_r, pw_p) VALUES"
      " ('%s', 'auditor', '\\x%s', '\\x%s', 1024, 8, 1);" % (sys.argv[1], salt.hex(), h.hex()))
PY
app_psql "$DSN" -f "$TW/rh.sql" >/dev/null || fail "insert the rehash user"
jpost "$MAIN/v1/login" "" "{\"user\":\"$RH\",\"password\":\"rehash-me-password-1\"}"
expect_status 200 "login with a cheaper stored hash"
N=$(app_psql "$DSN" -c "SELECT pw_n FROM users WHERE name = '$RH'")
[ "$N" != 1024 ] && [ "$N" -ge 1024 ] || fail "not rehashed: pw_n $N"
jpost "$MAIN/v1/login" "" "{\"user\":\"$RH\",\"password\":\"rehash-me-password-1\"}"
expect_status 200 "login after the rehash"
jpost "$MAIN/v1/login" "" "{\"user\":\"$RH\",\"password\":\"rehash-me-password-2\"}"
expect_status 401 "a wrong password after the rehash"
ok "a password stored under another scrypt cost is rehashed at the next login (pw_n 1024 -> $N)"

# ---- tokens ----------------------------------------------------------------------
# Tokens are for service accounts (and oneself): $HD is a person's account.
ctl "$A" token create --name "ci $S" --expires-in 1h --user "$HD"
expect_rc 5 "token create for a person's account"
grep -q "service account" "$TW/err" || fail "the refusal does not say why: $(cat "$TW/err")"
ctl "$A" user add "svc-$S" --role auditor --service --password-file "$TW/hd.pw"
expect_rc 2 "user add --service with a password"
ctl "$A" user add "svc-$S" --role auditor --service
expect_rc 0 "user add --service"
grep -q "service account" "$TW/out" && ! grep -qi "one-time password" "$TW/out" || fail "user add --service: $(cat "$TW/out")"
ctl "$A" user list
grep -q "^svc-$S  *auditor .* service  *\*$" "$TW/out" && grep -q "^$HD  *.* person  *\*" "$TW/out" || fail "user list KIND: $(cat "$TW/out")"
ctl "$A" token create --name "ci $S" --expires-in 1h --user "svc-$S"
expect_rc 0 "token create"
[ "$(wc -l <"$TW/out")" = 1 ] || fail "token create stdout is not one line"
API=$(cat "$TW/out")
case $API in kea_*) ;; *) fail "token format: $API" ;; esac
TID=$(sed -n 's/^Token \([0-9]*\) .*/\1/p' "$TW/err")
[ -n "$TID" ] || fail "no token id: $(cat "$TW/err")"
jcall GET "$MAIN/v1/users" "$API"
expect_status 403 "the auditor's API token on an admin route"
ctl "$A" token list
expect_rc 0 "token list"
grep -q "ci $S" "$TW/out" || fail "token list lacks the token"
no_secret "$API" "a token in the list"
RC=0; env XDG_CONFIG_HOME="$TW/cfg-none" ESCROWCTL_TOKEN="$BOOT" ESCROWCTL_SERVER="$MAIN" \
  "$KE_ESCROWCTL" user list >"$TW/out" 2>"$TW/err" || RC=$?
expect_rc 0 "user list with ESCROWCTL_TOKEN"
ctl "$A" token revoke "$TID"
expect_rc 0 "token revoke"
jcall GET "$MAIN/v1/users" "$API"
expect_status 401 "revoked API token"
ctl "$A" token revoke 999999999
expect_rc 1 "revoke an unknown token"
ctl "$A" token create --name "x" --expires-in 10years
expect_rc 2 "a bad duration"
ok "token create prints only the token, list hides it, revoke works; ESCROWCTL_TOKEN"

# ---- failures: not logged in, expired, loose mode, unreachable, plain http -------
ctl "$TW/cfg-none" user list
expect_rc 2 "no server at all"
ctl "$TW/cfg-none" user list --server "$MAIN"
expect_rc 5 "not logged in"
grep -q 'not logged in' "$TW/err" || fail "not-logged-in message"
ctl "$A" user list --server http://127.0.0.1:1
expect_rc 5 "another server than the stored one gets no token"
ctl "$TW/cfg-none" login --server http://127.0.0.1:1 --user "$ADM" --password-file "$TW/adm.pw"
expect_rc 4 "unreachable server"
ctl "$TW/cfg-none" login --server http://192.0.2.1:8080 --user "$ADM" --password-file "$TW/adm.pw"
expect_rc 2 "plain http to a non-loopback host"
cp -a "$C" "$TW/cfg-exp"
python3 - "$TW/cfg-exp/escrowctl/login.json" <<'PY'
import json, sys
p = sys.argv[1]; d = json.load(open(p)); d["expires"] = 1000; json.dump(d, open(p, "w"))
PY
ctl "$TW/cfg-exp" user list
expect_rc 5 "expired stored login"
grep -q expired "$TW/err" || fail "expired message"
chmod 644 "$C/escrowctl/login.json"
ctl "$C" user list
expect_rc 1 "a login file readable by others"
chmod 600 "$C/escrowctl/login.json"
ok "not logged in / expired -> 5, unreachable -> 4, plain http elsewhere -> 2, loose file refused"

# ---- HTTPS with a pinned CA -------------------------------------------------------
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$TW/key.pem" -out "$TW/cert.pem" >/dev/null 2>&1 || fail "openssl req"
start_daemon tls "$KE_ESCROWD" ESCROWD_TLS_CERT_FILE="$TW/cert.pem" ESCROWD_TLS_KEY_FILE="$TW/key.pem" -- serve
T=$TW/cfg-tls
ctl "$T" login --server "https://127.0.0.1:$PORT_tls" --user "$ADM" --password-file "$TW/adm.pw"
expect_rc 4 "HTTPS without the CA (verification is on)"
ctl "$T" login --server "https://127.0.0.1:$PORT_tls" --user "$ADM" --password-file "$TW/adm.pw" --cacert "$TW/cert.pem"
expect_rc 0 "HTTPS login with --cacert"
grep -q "\"cacert\": \"$TW/cert.pem\"" "$T/escrowctl/login.json" || fail "CA not pinned"
(cd / && env -u ESCROWCTL_TOKEN XDG_CONFIG_HOME="$T" "$KE_ESCROWCTL" user list >"$TW/out" 2>"$TW/err") ||
  fail "user list over HTTPS with the pinned CA: $(cat "$TW/err")"
grep -q "^$ADM " "$TW/out" || fail "HTTPS user list"
stop_daemon tls
ok "HTTPS: verification always on, --cacert pinned in the stored login"

# ---- key register: a replacement needs the password ---------------------------------
H=$TW/cfg-hd
ctl "$H" login --server "$MAIN" --user "$HD" --password-file "$TW/hd.pw"
expect_rc 0 "login of $HD"
ctl "$H" key register --client-key "$TW/ck1"
expect_rc 0 "key register"
ctl "$H" key register --client-key "$TW/ck2"
expect_rc 2 "key register of another key without a terminal or --password-file"
grep -q "needs your password" "$TW/err" || fail "key register: $(cat "$TW/err")"
ctl "$H" key show --client-key "$TW/ck1"
F1=$(head -n1 "$TW/out")
[ "$(app_psql "$DSN" -c "SELECT c.fingerprint FROM client_keys c JOIN users u ON u.id = c.user_id WHERE u.name = '$HD'")" = "$F1" ] ||
  fail "the key changed without the password"
ctl "$H" key register --client-key "$TW/ck2" --password-file "$TW/hd.pw"
expect_rc 0 "key register --password-file"
grep -q "replacing your old key" "$TW/out" && grep -q "re-pin" "$TW/out" || fail "key register output: $(cat "$TW/out")"
no_secret ctl-helpdesk-pass-1 "the password"
ctl "$H" key show --client-key "$TW/ck2"
[ "$(app_psql "$DSN" -c "SELECT c.fingerprint FROM client_keys c JOIN users u ON u.id = c.user_id WHERE u.name = '$HD'")" = "$(head -n1 "$TW/out")" ] ||
  fail "the key was not replaced"
ok "key register: replacing a key needs the password (--password-file), and says custodians must re-pin"

# ---- logout ------------------------------------------------------------------------
ctl "$A" logout
expect_rc 0 "logout"
[ ! -e "$A/escrowctl/login.json" ] || fail "login file left after logout"
jcall GET "$MAIN/v1/users" "$TOKEN"
expect_status 401 "the token after logout"
ok "logout revokes the token and forgets it"
