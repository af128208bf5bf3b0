#!/usr/bin/env bash
# t_logfork.sh - a real fork of the audit log (issue 11, finding 5), and the
# escrow-key fingerprint pin of online retrieve and drill run.
#
# Two escrowd instances share ONE log key but not their database: "main" on
# database A, "fork" on B, restored from a pg_dump of A taken earlier and
# then given other entries.  Both sign valid checkpoints; they cannot both
# extend what a client saw.
#   - a custodian who approved on A refuses a request on B: first while B is
#     smaller (rolled back: "older"), then once B is larger (not
#     consistent); both messages name both tree sizes; no part is stored
#   - the helpdesk who retrieved on A refuses to retrieve on B (no
#     confirmation code shown); a helpdesk user who never saw A accepts B
#     (first contact: that is what the saved checkpoint cannot help)
#   - the real escrow-agent that checked in on A fails its check-in on B
#     (exit 5, both sizes) and does not count a new escrow made there
#   - retrieve and drill run refuse an escrow key whose fingerprint is not
#     the pinned one (--escrow-fingerprint, $ESCROWCTL_ESCROW_FINGERPRINT,
#     `escrowctl escrow-key pin`)
set -euo pipefail
. "$KE_SRC/tests/server/lib.sh"
. "$KE_SRC/tests/server/t_auth_lib.sh"
TEST_NAME=logfork
ESCROWCTL=$KE_ESCROWCTL
. "$SRC/agent_funcs.sh"
export ESCROW_AGENT_SYSLOG=0

load_fixture
make_private_db
FORK_DB=${PRIV_DB}_fork
A_APP=$PRIV_APP_DSN
B_APP=${ESCROWD_DB_DSN/dbname=keyescrow/dbname=$FORK_DB}
B_OWN=${ESCROWD_DB_OWNER_DSN/dbname=keyescrow/dbname=$FORK_DB}
admin_psql() { "$PGLOCAL" psql --dir "$FIX_VAR" admin -v ON_ERROR_STOP=1 -q "$@"; }
trap 'rc=$?; drop_private_db; admin_psql -c "DROP DATABASE IF EXISTS $FORK_DB" >/dev/null 2>&1; (exit $rc); cleanup_test' EXIT
start_private main
UA=http://127.0.0.1:$PORT_main
W=$TW
SD=$W/state
: >"$W/agent.log"
export HOME=$W ESCROWCTL_SERVER=$UA
unset XDG_CONFIG_HOME ESCROWCTL_LOG_KEY ESCROWCTL_CACERT ESCROWCTL_TOKEN ESCROWCTL_ESCROW_FINGERPRINT
http GET "$UA/v1/audit/key"
ESCROWCTL_LOG_KEY=$(json_get verifier_key)
export ESCROWCTL_LOG_KEY

FPR=$(ceremony "$W/key")
[ ${#FPR} = 64 ] || fail "ceremony"
OTHER=$(printf '%064d' 0)
declare -A TOK
for u in admin1:admin hd1:helpdesk hd2:helpdesk aud1:auditor c1:custodian:1; do
  IFS=: read -r name role idx <<<"$u"
  mint_user "$A_APP" "$name" "$role" "${idx:-NULL}"
  TOK[$name]=$(mint_token "$A_APP" "$name")
done
# as USER ARGS...: escrowctl as USER, with USER's own configuration
# directory (saved checkpoint, pins); output in $W/out.USER, status in RC.
as() {
  local who=$1; shift
  set +e
  XDG_CONFIG_HOME=$W/cfg/$who ESCROWCTL_TOKEN=${TOK[$who]} "$ESCROWCTL" "$@" >"$W/out.$who" 2>&1
  RC=$?
  set -e
}
size_of() { curl -sS "$1/v1/audit/checkpoint?fresh=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["tree_size"])'; }
saved_size() { sed -n 2p "$W/cfg/$1/escrowctl/audit-checkpoint"; }
grow() {  # URL N: N audited events (enrolment tokens)
  for _ in $(seq "$2"); do
    ESCROWCTL_SERVER=$1 as admin1 enroll-token create --group lab --uses 1 --expires 1h
    [ "$RC" = 0 ] || fail "enroll-token create: $(cat "$W/out.admin1")"
  done
}
retrieve() {  # USER URL ARGS...
  local who=$1 url=$2; shift 2
  ESCROWCTL_SERVER=$url as "$who" retrieve --device host-1 --volume data --reason "locked out" \
    --ticket T-1 "$@"
}

as admin1 escrow-key publish --manifest "$W/key/escrow-key.json" --fingerprint "$FPR"
[ "$RC" = 0 ] || fail "publish: $(cat "$W/out.admin1")"
ENROLL=$(ESCROWCTL_TOKEN=${TOK[admin1]} "$ESCROWCTL" enroll-token create --group lab --uses 1 --expires 1h 2>/dev/null) ||
  fail "enroll-token create"
ag enroll --server "$UA" --token "$ENROLL" --escrow-fingerprint "$FPR" --log-key "$ESCROWCTL_LOG_KEY" --hostname host-1
expect_rc 0 "enrol"
agin "log-fork-secret-Zq8-harbour-4" escrow --provider stdin --volume data
expect_rc 0 "escrow"
expect_err "event proven in the log" "the agent proves its escrow event"
[ -n "$(stq "s.get('audit_checkpoint', '')")" ] || fail "the agent saved no checkpoint"
for u in hd1 hd2 aud1; do
  as "$u" key register
  [ "$RC" = 0 ] || fail "key register $u: $(cat "$W/out.$u")"
done
# The custodian pinned the requesters' client keys, checked out of band.
for u in hd1 hd2; do
  XDG_CONFIG_HOME=$W/cfg/c1 "$ESCROWCTL" pin add "$u" \
    "$(XDG_CONFIG_HOME=$W/cfg/$u "$ESCROWCTL" key show | head -n1)" >/dev/null || fail "pin add $u"
done
ok "escrowed by the real agent (event proven, checkpoint kept); client keys registered"

# The fork point: what B will start from.
/usr/lib/postgresql/15/bin/pg_dump "$PRIV_OWN_DSN" >"$W/t0.sql" 2>"$W/dump.err" || fail "pg_dump: $(cat "$W/dump.err")"
grow "$UA" 8

# Fingerprint pins.
retrieve hd1 "$UA" --key-out "$W/kx" --escrow-fingerprint "$OTHER"
[ "$RC" = 1 ] && grep -q "ESCROW KEY NOT PINNED.*$FPR" "$W/out.hd1" || fail "retrieve under a wrong pin ($RC): $(cat "$W/out.hd1")"
! grep -q "confirmation code  [A-Z2-7]" "$W/out.hd1" && [ ! -e "$W/kx" ] || fail "a refused request showed its code or kept its key"
ESCROWCTL_ESCROW_FINGERPRINT=$OTHER retrieve hd1 "$UA" --key-out "$W/kx"
[ "$RC" = 1 ] && grep -q "ESCROW KEY NOT PINNED" "$W/out.hd1" || fail "retrieve under a wrong pin from the environment ($RC)"
ESCROWCTL_ESCROW_FINGERPRINT=$FPR retrieve hd1 "$UA" --key-out "$W/k1"
[ "$RC" = 0 ] && grep -q "proven in the signed log" "$W/out.hd1" && grep -q "confirmation code  [A-Z2-7]" "$W/out.hd1" ||
  fail "retrieve with the right pin ($RC): $(cat "$W/out.hd1")"
R1=$(sed -n 's/.*request \(req-[a-z2-7]*\) created.*/\1/p' "$W/out.hd1")
ok "retrieve refuses an escrow key that is not pinned (option, environment), accepts the pinned one"

as c1 approve "$R1" --share "$W/key/custodian-1.share.json" --passphrase-file "$W/key.pass/1" --yes
[ "$RC" = 0 ] || fail "approve on A: $(cat "$W/out.c1")"
ag checkin
expect_rc 0 "check-in on A"
N1=$(saved_size c1)
NH=$(saved_size hd1)
NAG=$(stq "s['audit_checkpoint'].split(chr(10))[1]")
ok "on A: custodian saw tree size $N1, helpdesk $NH, agent $NAG"

# B: A as it was at the dump, then a life of its own, same log key.
admin_psql -d postgres -c "CREATE DATABASE $FORK_DB OWNER keyescrow_owner" \
  -c "GRANT CONNECT ON DATABASE $FORK_DB TO keyescrow_app" || fail "create $FORK_DB"
admin_psql -d "$FORK_DB" <"$W/t0.sql" >"$W/restore.log" 2>&1 || fail "restore: $(tail "$W/restore.log")"
PRIV_APP_DSN=$B_APP PRIV_OWN_DSN=$B_OWN start_private fork
UB=http://127.0.0.1:$PORT_fork

# hd2 never saw A: its first contact with B is accepted (nothing to compare).
retrieve hd2 "$UB" --key-out "$W/k2" --escrow-fingerprint "$FPR"
[ "$RC" = 0 ] || fail "hd2 retrieve on B: $(cat "$W/out.hd2")"
R2=$(sed -n 's/.*request \(req-[a-z2-7]*\) created.*/\1/p' "$W/out.hd2")
SB=$(size_of "$UB")
[ "$SB" -lt "$N1" ] || fail "B ($SB) should still be smaller than what c1 saw ($N1)"

# Rolled back: B is smaller than what c1 saw.
approve_b() {
  ESCROWCTL_SERVER=$UB as c1 approve "$R2" --share "$W/key/custodian-1.share.json" \
    --passphrase-file "$W/key.pass/1" --yes
}
approve_b
[ "$RC" = 1 ] && grep -q "FORKED LOG VIEW.*tree size $SB).*older.*tree size $N1)" "$W/out.c1" ||
  fail "approve on a rolled-back log ($RC): $(cat "$W/out.c1")"
[ "$(saved_size c1)" = "$N1" ] || fail "the saved checkpoint moved"
ok "approve refuses a rolled-back log (tree size $SB < $N1)"

# Forked: B grows past what c1 saw, with other entries.
grow "$UB" $((N1 - SB + 3))
approve_b
SB=$(sed -n 's/.*checkpoint (tree size \([0-9]*\)) is not consistent.*/\1/p' "$W/out.c1")
[ "$RC" = 1 ] && [ -n "$SB" ] && [ "$SB" -gt "$N1" ] && grep -q "not consistent with the one this client saved (tree size $N1)" "$W/out.c1" ||
  fail "approve on a forked log ($RC): $(cat "$W/out.c1")"
[ "$(app_psql "$B_APP" -c "SELECT count(*) FROM retrieval_parts")" = 0 ] || fail "a part reached the fork"
[ "$(saved_size c1)" = "$N1" ] || fail "the saved checkpoint moved"
ok "approve refuses a forked log (tree size $SB, inconsistent with $N1); no part"

retrieve hd1 "$UB" --key-out "$W/k3" --escrow-fingerprint "$FPR"
[ "$RC" = 1 ] && grep -q "FORKED LOG VIEW.*tree size [0-9]*).*tree size $NH)" "$W/out.hd1" ||
  fail "retrieve on a forked log ($RC): $(cat "$W/out.hd1")"
! grep -q "confirmation code  [A-Z2-7]" "$W/out.hd1" && [ ! -e "$W/k3" ] || fail "a refused request showed its code or kept its key"
ok "retrieve refuses the forked log; no code, no key"

# The agent, pointed at B (a hijacked name), refuses both check-in and escrow.
"$PY" - "$SD/state.json" "$UB" <<'PY'
import json, os, sys
s = json.load(open(sys.argv[1]))
s["server"] = sys.argv[2]
open(sys.argv[1] + ".tmp", "w").write(json.dumps(s))
os.chmod(sys.argv[1] + ".tmp", 0o600)
os.replace(sys.argv[1] + ".tmp", sys.argv[1])
PY
ag checkin
expect_rc 5 "check-in on a forked log"
expect_err "FORKED LOG VIEW.*tree size [0-9]+\).*tree size $NAG\)" "check-in names both sizes"
agin "log-fork-second-Vb2-lantern-9" escrow --provider stdin --volume data2
expect_rc 5 "escrow on a forked log"
expect_err "FORKED LOG VIEW" "escrow on the fork"
[ "$(stq "s['volumes']['data2'].get('record_id', '')")" = "" ] || fail "the agent counted an escrow on the fork"
[ "$(stq "s['audit_checkpoint'].split(chr(10))[1]")" = "$NAG" ] || fail "the agent's saved checkpoint moved"
ok "the agent fails loudly on the fork (exit 5, both sizes) and does not count the escrow"

# drill run pins the escrow key too (checked before any part is used).
DRILL=$(XDG_CONFIG_HOME=$W/cfg/aud1 ESCROWCTL_TOKEN=${TOK[aud1]} "$ESCROWCTL" drill start --all --key-out "$W/drill.key" 2>"$W/start.err") ||
  fail "drill start: $(cat "$W/start.err")"
as aud1 drill run "$DRILL" --key "$W/drill.key" --escrow-fingerprint "$OTHER"
[ "$RC" = 1 ] && grep -q "ESCROW KEY NOT PINNED" "$W/out.aud1" || fail "drill run under a wrong pin ($RC): $(cat "$W/out.aud1")"
as aud1 escrow-key pin "$OTHER"
[ "$RC" = 0 ] || fail "escrow-key pin: $(cat "$W/out.aud1")"
as aud1 drill run "$DRILL" --key "$W/drill.key"
[ "$RC" = 1 ] && grep -q "ESCROW KEY NOT PINNED.*escrow-fingerprints" "$W/out.aud1" || fail "drill run under a wrong pinned file ($RC): $(cat "$W/out.aud1")"
as aud1 escrow-key pin "$FPR"
as aud1 drill run "$DRILL" --key "$W/drill.key"
! grep -q "NOT PINNED" "$W/out.aud1" && grep -q "no valid part" "$W/out.aud1" ||
  fail "drill run with the pinned key ($RC): $(cat "$W/out.aud1")"
ok "drill run refuses an escrow key that is not pinned (option, pin file), goes on with the pinned one"

# Witness cosignatures (c2sp.org/tlog-cosignature), on A.
WIT=$HERE/t_witness.py
VW=$("$PY" "$WIT" new witness.example/w1 "$W/w1.key")
VW2=$("$PY" "$WIT" new witness.example/w2 "$W/w2.key")
http GET "$UA/v1/audit/checkpoint/cosigned"
expect_status 404 "nothing cosigned yet"
curl -sS "$UA/v1/audit/checkpoint?fresh=1&format=note" >"$W/cp.note"
"$PY" "$WIT" cosign "$W/w1.key" <"$W/cp.note" >"$W/cp.cosigned"
post_cosig() {  # FILE [TOKEN]: POST the note in FILE
  "$PY" -c 'import json,sys; print(json.dumps({"checkpoint": open(sys.argv[1]).read()}))' "$1" >"$W/cosig.json"
  jpost "$UA/v1/audit/cosignatures" "${2-${TOK[aud1]}}" "@$W/cosig.json"
}
post_cosig "$W/cp.cosigned" ""
expect_status 401 "an anonymous cosignature"
post_cosig "$W/cp.note"
expect_status 400 "a checkpoint without a cosignature"
printf '%s\n' "$(cat "$W/cp.cosigned")" | sed '$ s/ [A-Za-z0-9+\/=]*$/ AAAA/' >"$W/cp.bad"
post_cosig "$W/cp.bad"
expect_status 400 "a line that is not a cosignature"
sed '1 s/.*/other.example\/audit/' "$W/cp.cosigned" >"$W/cp.other"
post_cosig "$W/cp.other"
expect_status 400 "a checkpoint of another log"
post_cosig "$W/cp.cosigned"
expect_status 201 "a witness's cosignature"
[ "$(json_get stored)" = 1 ] || fail "stored: $(cat "$BODYF")"
http GET "$UA/v1/audit/checkpoint/cosigned"
expect_status 200 "the cosigned checkpoint"
cmp -s "$BODYF" "$W/cp.cosigned" || fail "the cosigned checkpoint is not what the witness signed"
ok "cosignatures: stored once posted by an auditor (anonymous, bare, malformed, foreign refused), served with their checkpoint"

retrieve hd1 "$UA" --key-out "$W/k5" --escrow-fingerprint "$FPR" --witness-key "$VW"
[ "$RC" = 0 ] && grep -q "cosigned by the configured witnesses" "$W/out.hd1" ||
  fail "retrieve with a witness ($RC): $(cat "$W/out.hd1")"
ESCROWCTL_WITNESS_KEY="$VW,$VW2" retrieve hd1 "$UA" --key-out "$W/k6" --escrow-fingerprint "$FPR"
[ "$RC" = 1 ] && grep -q "no valid cosignature by the witness witness.example/w2" "$W/out.hd1" ||
  fail "retrieve with a witness that did not cosign ($RC): $(cat "$W/out.hd1")"
# A hostile server serves a newer checkpoint with a forged line of w1.
curl -sS "$UA/v1/audit/checkpoint?fresh=1&format=note" >"$W/cp2.note"
"$PY" "$WIT" forge "$W/w1.key" <"$W/cp2.note" >"$W/cp2.forged"
S2=$(sed -n 2p "$W/cp2.note")
app_psql "$A_APP" -c "INSERT INTO audit_cosignatures (tree_size, witness, line)
  VALUES ($S2, 'witness.example/w1', '$(tail -n1 "$W/cp2.forged")')"
mkdir -p "$W/cfg/c1/escrowctl"
printf '%s\n' "$VW" >"$W/cfg/c1/escrowctl/audit-witness-keys"
ESCROWCTL_SERVER=$UA as c1 approve "$R1" --share "$W/key/custodian-1.share.json" \
  --passphrase-file "$W/key.pass/1" --yes
[ "$RC" = 1 ] && grep -q "(tree size $S2) has no valid cosignature by the witness witness.example/w1" "$W/out.c1" ||
  fail "approve on a forged cosignature ($RC): $(cat "$W/out.c1")"
ok "clients require the configured witnesses' cosignatures (--witness-key, \$ESCROWCTL_WITNESS_KEY, the key file): a missing or forged one is refused"
stop_daemon fork
stop_daemon main
