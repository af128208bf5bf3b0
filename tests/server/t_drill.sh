#!/usr/bin/env bash
# t_drill.sh - backup-integrity drills end to end: a real escrowd on a
# private database of the server fixture, a fleet of 24 records escrowed
# through the device API (t_drill_fleet.py), a 3-of-5 escrow key, and
# escrowctl `drill start | approve | run`.
#   - roles: helpdesk cannot start a drill, a custodian can read it, the
#     auditor cannot contribute parts
#   - one record escrowed with a corrupt envelope and one with a wrong
#     verifier: the run reports exactly those two, with the reasons "AEAD"
#     and "verifier mismatch", and 22 ok; the wrong verifier and one good
#     one are v2 (scrypt), the rest v1: both forms are checked
#   - custodian 3 contributes offline: drill approve --export, drill part
#     with no server or configuration, drill approve --import; a drill file
#     with a tampered R or envelope is refused by drill part
#   - a second batch of an index is refused; the signed summary lands in
#     the audit log as drill.result; a posted result closes the drill
#   - a --sample drill of clean records started, waited for and opened by
#     one `drill run --sample 5` (the one-time key in memory only, no key
#     file anywhere): all ok, exit 0
#   - custodians act only after pinning the auditor's key (key show / pin
#     add) and prove every record's escrow event in the log; the
#     confirmation code the auditor's start prints is the custodians'
#   - no secret in stdout/stderr, pg_dump or the server log
# The hostile server (foreign E, R outside the log, unknown or changed
# auditor key, forked log) is t_drill_hostile.sh.
set -euo pipefail
. "$KE_SRC/tests/server/lib.sh"
. "$KE_SRC/tests/server/t_auth_lib.sh"
. "$KE_SRC/tests/server/t_drill_lib.sh"
TEST_NAME=drill
ESCROWCTL=$KE_ESCROWCTL

load_fixture
make_private_db
trap 'rc=$?; [ -z "${RUNPID:-}" ] || kill $RUNPID 2>/dev/null || true; drop_private_db; (exit $rc); cleanup_test' EXIT
start_private main
drill_env
drill_keys 3 5
mint_user "$PRIV_APP_DSN" hd1 helpdesk
HD=$(mint_token "$PRIV_APP_DSN" hd1)
ENROLL=$(ESCROWCTL_TOKEN=$ADMIN "$ESCROWCTL" enroll-token create --group lab --uses 30 --expires 1h 2>"$W/ctl.err") ||
  fail "enroll-token create: $(cat "$W/ctl.err")"
python3 "$KE_SRC/tests/server/t_drill_fleet.py" "$URL" "$ENROLL" 24 "$W" >"$W/fleet.log" 2>&1 ||
  fail "fleet: $(cat "$W/fleet.log")"
BADV=$(cat "$W/badverifier")
V2REC=$(cat "$W/v2record")
[ "$(sql "SELECT count(*) FROM escrow_records WHERE state = 'active'")" = 24 ] || fail "fleet size"
ok "a fleet of 24 escrowed records"

aud() { ESCROWCTL_TOKEN=$AUD "$ESCROWCTL" "$@"; }
cust() { local i=$1; shift; ESCROWCTL_TOKEN=${CT[$i]} "$ESCROWCTL" "$@"; }
approve() {  # I DRILL: sets RC, output in $W/ap.$I
  set +e
  cust "$1" drill approve "$2" --share "$KD/custodian-$1.share.json" \
    --passphrase-file "$KD.pass/$1" --yes >"$W/ap.$1" 2>&1
  RC=$?
  set -e
}
aud key register >"$W/kr.out" 2>&1 || fail "auditor key register: $(cat "$W/kr.out")"
# The custodians pin the auditor's key after checking it with them.
AFPR=$(aud key show | head -n1)
"$ESCROWCTL" pin add aud1 "$AFPR" >/dev/null || fail "pin add"

# Roles.
rc=0; ESCROWCTL_TOKEN=$HD "$ESCROWCTL" drill start --all --key-out "$W/hd.key" >"$W/hd.out" 2>&1 || rc=$?
[ $rc = 5 ] || fail "helpdesk drill start exited $rc: $(cat "$W/hd.out")"
rc=0; aud drill start --all >"$W/nokey.out" 2>&1 || rc=$?
[ $rc = 2 ] && grep -q -- "--key-out" "$W/nokey.out" || fail "drill start without --key-out: $rc $(cat "$W/nokey.out")"
DRILL=$(aud drill start --all --key-out "$W/drill.key" 2>"$W/start.err") || fail "drill start: $(cat "$W/start.err")"
grep -q "24 record(s)" "$W/start.err" || fail "start: $(cat "$W/start.err")"
CODE=$(sed -n 's/.*confirmation code  *\([A-Z2-7-]*\).*/\1/p' "$W/start.err")
[ ${#CODE} = 14 ] || fail "no confirmation code: $(cat "$W/start.err")"
[ "$(stat -c %a "$W/drill.key")" = 600 ] || fail "drill key mode"
[ ! -e "$W/.config/escrowctl/drills" ] || fail "a key under drills/"
[ "$(sql "SELECT statement IS NOT NULL FROM drills WHERE id = '$DRILL'")" = t ] || fail "statement not stored"
# The sample drill starts now, in one `drill run` that keeps its one-time
# key in memory and waits for its custodians: from the first batch of the
# drill above on, its records are disclosed (and no longer active).
ESCROWCTL_TOKEN=$AUD "$ESCROWCTL" drill run --sample 5 >"$W/run2.out" 2>"$W/run2.err" &
RUNPID=$!
D2=""
for _ in $(seq 200); do
  D2=$(head -n1 "$W/run2.out" 2>/dev/null || true)
  [ -n "$D2" ] && break
  kill -0 $RUNPID 2>/dev/null || break
  sleep 0.05
done
[ -n "$D2" ] || fail "drill run --sample printed no drill id: $(cat "$W/run2.err")"
http GET "$URL/v1/drills/$DRILL" -H "Authorization: Bearer ${CT[4]}"
[ "$STATUS" = 200 ] && [ "$(json_get drill.records)" = 24 ] || fail "custodian GET: $STATUS"
http POST "$URL/v1/drills/$DRILL/parts" -H "Authorization: Bearer $AUD" \
  -H 'Content-Type: application/json' -d '{"parts":[]}'
[ "$STATUS" = 403 ] || fail "auditor posting parts: $STATUS"
ok "roles: helpdesk may not start, a custodian reads, the auditor may not contribute"

# The fleet's device 3 escrowed an envelope corrupt from the start (its
# escrow event names the corrupt bytes): custodians prove it, the run finds
# it.  An envelope changed in the database afterwards is refused by every
# custodian instead (t_drill_hostile.sh).
CORR=$(cat "$W/corrupt")
[ -n "$CORR" ] || fail "no corrupt record"

for i in 1 2; do approve $i "$DRILL"; [ "$RC" = 0 ] || fail "approve $i: $(cat "$W/ap.$i")"; done
grep -q "24 part(s)" "$W/ap.1" || fail "approve output: $(cat "$W/ap.1")"
grep -q "confirmation code  $CODE" "$W/ap.1" || fail "approve shows another code: $(cat "$W/ap.1")"
grep -q "24 escrow event(s) proven" "$W/ap.1" || fail "approve proved no events: $(cat "$W/ap.1")"

# Custodian 3 offline: export, `drill part` with no server, no login and
# nothing but the auditor's pin (a HOME of its own), import.
cust 3 drill approve "$DRILL" --export "$W/drill.json" >"$W/ex.out" 2>&1 ||
  fail "export: $(cat "$W/ex.out")"
OFF=$W/offline
mkdir -p "$OFF"
offline() { env -u ESCROWCTL_SERVER -u ESCROWCTL_TOKEN -u ESCROWCTL_LOG_KEY HOME="$OFF" "$ESCROWCTL" "$@"; }
offline pin add aud1 "$AFPR" >/dev/null || fail "offline pin add"
OFFSUM=$(find "$OFF" -type f -exec sha256sum {} + | sort)
dpart() {  # DRILLFILE OUT: sets RC, output in $W/dp.out
  set +e
  offline drill part --drill "$1" --share "$KD/custodian-3.share.json" \
    --passphrase-file "$KD.pass/3" --yes --out "$2" >"$W/dp.out" 2>&1
  RC=$?
  set -e
}
# A tampered drill file is refused: another record's R, an envelope byte.
python3 - "$W/drill.json" "$W" <<'PY'
import base64, json, sys
d = json.load(open(sys.argv[1]))
t = json.loads(json.dumps(d)); t["records"][0]["R"] = d["records"][1]["R"]
json.dump(t, open(sys.argv[2] + "/tamper-r.json", "w"))
t = json.loads(json.dumps(d)); e = t["records"][2]["envelope"]
raw = bytearray(base64.urlsafe_b64decode(e + "=" * (-len(e) % 4))); raw[-1] ^= 1
t["records"][2]["envelope"] = base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")
json.dump(t, open(sys.argv[2] + "/tamper-env.json", "w"))
PY
dpart "$W/tamper-r.json" "$W/batch-r.json"
[ "$RC" = 1 ] && grep -q 'field "R": not the envelope' "$W/dp.out" && [ ! -e "$W/batch-r.json" ] ||
  fail "tampered R: $RC $(cat "$W/dp.out")"
dpart "$W/tamper-env.json" "$W/batch-e.json"
[ "$RC" = 1 ] && grep -q 'envelope_sha256' "$W/dp.out" && [ ! -e "$W/batch-e.json" ] ||
  fail "tampered envelope: $RC $(cat "$W/dp.out")"
dpart "$W/drill.json" "$W/batch.json"
[ "$RC" = 0 ] && grep -q "24 part(s) of custodian 3" "$W/dp.out" || fail "drill part: $RC $(cat "$W/dp.out")"
grep -q "confirmation code  $CODE" "$W/dp.out" || fail "drill part shows another code: $(cat "$W/dp.out")"
[ "$(find "$OFF" -type f -exec sha256sum {} + | sort)" = "$OFFSUM" ] || fail "drill part wrote configuration: $(find "$OFF")"
rc=0; cust 3 drill approve "$DRILL" --import "$W/tamper-r.json" >"$W/im.out" 2>&1 || rc=$?
[ $rc = 1 ] || fail "a drill file imported as a batch: $rc $(cat "$W/im.out")"
cust 3 drill approve "$DRILL" --import "$W/batch.json" >"$W/ap.3" 2>&1 || fail "import: $(cat "$W/ap.3")"
grep -q "24 part(s) of custodian 3 sent" "$W/ap.3" || fail "import output: $(cat "$W/ap.3")"
ok "custodian 3 offline: export, drill part without a server, import; tampered R or envelope refused"
approve 1 "$DRILL"
[ "$RC" = 1 ] && grep -q "already" "$W/ap.1" || fail "second batch of index 1: $RC $(cat "$W/ap.1")"
ok "three custodians contributed 24 parts each (one offline); a second batch is refused"

rc=0; aud drill run "$DRILL" --key "$W/drill.key" >"$W/run.out" 2>"$W/run.err" || rc=$?
[ $rc = 1 ] || fail "run exited $rc: $(cat "$W/run.out" "$W/run.err")"
grep -q "24 record(s), 22 ok, 2 failed" "$W/run.out" || fail "run: $(cat "$W/run.out")"
[ "$(grep -c '^failed ' "$W/run.out")" = 2 ] || fail "failures: $(cat "$W/run.out")"
grep -qx "failed $CORR: AEAD" "$W/run.out" || fail "corrupt record: $(cat "$W/run.out")"
grep -qx "failed $BADV: verifier mismatch" "$W/run.out" || fail "bad verifier: $(cat "$W/run.out")"
[ "$(sql "SELECT string_agg(length(verifier) || ':' || encode(substring(verifier FROM 1 FOR 6), 'hex'), ',' ORDER BY record_id) FROM drill_records WHERE drill_id = '$DRILL' AND record_id IN ('$BADV', '$V2REC')")" = "54:4b5602110801,54:4b5602110801" ] ||
  fail "the drill snapshot does not hold the two v2 verifiers"
ok "the run names exactly the corrupted record (AEAD) and the wrong verifier (v2); the good v2 is ok"

ev=""
for _ in $(seq 50); do
  ev=$(sql "SELECT convert_from(leaf, 'UTF8') FROM audit_log WHERE convert_from(leaf, 'UTF8')::jsonb->>'action' = 'drill.result'")
  [ -n "$ev" ] && break; sleep 0.1
done
python3 - "$ev" "$CORR" "$BADV" <<'PY' || fail "drill.result event: $ev"
import json, sys
d = json.loads(sys.argv[1])["details"]
assert d["total"] == 24 and d["ok"] == 22 and d["failed"] == 2, d
assert {f["record_id"]: f["reason"] for f in d["failures"]} == {sys.argv[2]: "AEAD", sys.argv[3]: "verifier mismatch"}, d
assert d["custodians"] == [1, 2, 3], d
PY
[ "$(sql "SELECT state FROM drills WHERE id = '$DRILL'")" = done ] || fail "drill not done"
approve 4 "$DRILL"
[ "$RC" = 1 ] || fail "a done drill took parts: $(cat "$W/ap.4")"
ok "drill.result in the audit log with counts, failures and custodians; the drill is done"

# The sample, opened by the `drill run` started above once its custodians
# answered.
n=$(sql "SELECT count(*) FROM drill_records WHERE drill_id = '$D2' AND record_id IN ('$BADV', '$CORR')")
for i in 2 4 5; do approve $i "$D2"; [ "$RC" = 0 ] || fail "approve $i: $(cat "$W/ap.$i")"; done
rc=0; wait $RUNPID || rc=$?
[ ! -e "$W/.config/escrowctl/drills" ] || fail "drill run wrote a key file"
grep -q "waiting for 3 custodian" "$W/run2.err" || fail "run 2 did not wait: $(cat "$W/run2.err")"
# The sample is random: it holds the wrong-verifier or corrupt record or not.
want=0; [ "$n" = 0 ] || want=1
[ $rc = $want ] && grep -q "5 record(s), $((5 - n)) ok, $n failed" "$W/run2.out" ||
  fail "run 2: $rc $(cat "$W/run2.out" "$W/run2.err")"
ok "a sample of 5 records, custodians 2, 4, 5: the clean ones all ok"

# No secret anywhere.
pg_dump -a "$PRIV_OWN_DSN" >"$W/dump.sql" 2>/dev/null || fail "pg_dump"
while read -r s; do
  for f in "$W"/run*.out "$W"/run*.err "$W"/ap.* "$W/dp.out" "$W/dump.sql" "$TW/main.log"; do
    [ -f "$f" ] || continue
    ! grep -qF -- "$s" "$f" || fail "a secret is in $f"
  done
done <"$W/secrets"
ok "no secret in the outputs, the database or the server log"
