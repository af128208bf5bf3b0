#!/usr/bin/env bash
# t_drill.sh - backup-integrity drills end to end: a real escrowd on a
# private database of the server fixture, a fleet of 24 records escrowed
# through the device API (t_drill_fleet.py), a 3-of-5 escrow key, and
# escrowctl `drill start | approve | run`.
#   - roles: helpdesk cannot start a drill, a custodian can read it, the
#     auditor cannot contribute parts
#   - one snapshot envelope corrupted with owner SQL and one record escrowed
#     with a wrong verifier: the run reports exactly those two, with the
#     reasons "AEAD" and "verifier mismatch", and 22 ok
#   - custodian 3 contributes offline: drill approve --export, drill part
#     with no server or configuration, drill approve --import; a drill file
#     with a tampered R or envelope is refused by drill part
#   - a second batch of an index is refused; the signed summary lands in
#     the audit log as drill.result; a posted result closes the drill
#   - a --sample drill of clean records: all ok, exit 0
#   - no secret in stdout/stderr, pg_dump or the server log
set -euo pipefail
. "$KE_SRC/tests/server/lib.sh"
. "$KE_SRC/tests/server/t_auth_lib.sh"
TEST_NAME=drill
ESCROWCTL=$KE_ESCROWCTL

load_fixture
make_private_db
trap 'rc=$?; drop_private_db; (exit $rc); cleanup_test' EXIT
start_private main
URL=http://127.0.0.1:$PORT_main
W=$TW
export HOME=$W ESCROWCTL_SERVER=$URL
unset XDG_CONFIG_HOME ESCROWCTL_LOG_KEY ESCROWCTL_CACERT ESCROWCTL_TOKEN
sql() { app_psql "$PRIV_APP_DSN" -c "$1"; }
own() { app_psql "$PRIV_OWN_DSN" -c "$1"; }

KD=$W/key
mkdir -p "$KD.pass"
pf=()
for i in 1 2 3 4 5; do echo "drill passphrase $i" >"$KD.pass/$i"; pf+=(--passphrase-file "$i=$KD.pass/$i"); done
"$ESCROWCTL" ceremony --threshold 3 --shares 5 --custodian c1 --custodian c2 --custodian c3 \
  --custodian c4 --custodian c5 --out "$KD" --scrypt-n 1024 "${pf[@]}" >/dev/null 2>&1 ||
  fail "ceremony"
FPR=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["fingerprint"])' "$KD/escrow-key.json")
mint_user "$PRIV_APP_DSN" admin1 admin
mint_user "$PRIV_APP_DSN" hd1 helpdesk
mint_user "$PRIV_APP_DSN" aud1 auditor
for i in 1 2 3 4 5; do mint_user "$PRIV_APP_DSN" "c$i" custodian "$i"; done
ADMIN=$(mint_token "$PRIV_APP_DSN" admin1)
HD=$(mint_token "$PRIV_APP_DSN" hd1)
AUD=$(mint_token "$PRIV_APP_DSN" aud1)
declare -A CT
for i in 1 2 3 4 5; do CT[$i]=$(mint_token "$PRIV_APP_DSN" "c$i"); done
ESCROWCTL_TOKEN=$ADMIN "$ESCROWCTL" escrow-key publish --manifest "$KD/escrow-key.json" \
  --fingerprint "$FPR" >/dev/null 2>"$W/ctl.err" || fail "escrow-key publish: $(cat "$W/ctl.err")"
ENROLL=$(ESCROWCTL_TOKEN=$ADMIN "$ESCROWCTL" enroll-token create --group lab --uses 30 --expires 1h 2>"$W/ctl.err") ||
  fail "enroll-token create: $(cat "$W/ctl.err")"
python3 "$KE_SRC/tests/server/t_drill_fleet.py" "$URL" "$ENROLL" 24 "$W" >"$W/fleet.log" 2>&1 ||
  fail "fleet: $(cat "$W/fleet.log")"
BADV=$(cat "$W/badverifier")
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

# Roles.
rc=0; ESCROWCTL_TOKEN=$HD "$ESCROWCTL" drill start --all >"$W/hd.out" 2>&1 || rc=$?
[ $rc = 5 ] || fail "helpdesk drill start exited $rc: $(cat "$W/hd.out")"
DRILL=$(aud drill start --all 2>"$W/start.err") || fail "drill start: $(cat "$W/start.err")"
grep -q "24 record(s)" "$W/start.err" || fail "start: $(cat "$W/start.err")"
# The sample drill is started now: from the first batch of the drill above
# on, its records are disclosed (and no longer active).
D2=$(aud drill start --sample 5 2>"$W/start2.err") || fail "drill start --sample: $(cat "$W/start2.err")"
[ "$(stat -c %a "$W/.config/escrowctl/drills/$DRILL.key")" = 600 ] || fail "drill key mode"
http GET "$URL/v1/drills/$DRILL" -H "Authorization: Bearer ${CT[4]}"
[ "$STATUS" = 200 ] && [ "$(json_get drill.records)" = 24 ] || fail "custodian GET: $STATUS"
http POST "$URL/v1/drills/$DRILL/parts" -H "Authorization: Bearer $AUD" \
  -H 'Content-Type: application/json' -d '{"parts":[]}'
[ "$STATUS" = 403 ] || fail "auditor posting parts: $STATUS"
ok "roles: helpdesk may not start, a custodian reads, the auditor may not contribute"

# Corrupt one snapshot envelope (a ciphertext byte) with owner SQL.
CORR=$(sql "SELECT record_id FROM drill_records WHERE drill_id = '$DRILL' AND record_id <> '$BADV' ORDER BY record_id LIMIT 1 OFFSET 3")
own "ALTER TABLE drill_records DISABLE TRIGGER drill_records_no_update;
     UPDATE drill_records SET envelope = set_byte(envelope, 100, get_byte(envelope, 100) # 1)
       WHERE drill_id = '$DRILL' AND record_id = '$CORR';
     ALTER TABLE drill_records ENABLE TRIGGER drill_records_no_update" >/dev/null

for i in 1 2; do approve $i "$DRILL"; [ "$RC" = 0 ] || fail "approve $i: $(cat "$W/ap.$i")"; done
grep -q "24 part(s)" "$W/ap.1" || fail "approve output: $(cat "$W/ap.1")"

# Custodian 3 offline: export, `drill part` with no server, no login and no
# configuration (an empty HOME), import.
cust 3 drill approve "$DRILL" --export "$W/drill.json" >"$W/ex.out" 2>&1 ||
  fail "export: $(cat "$W/ex.out")"
OFF=$W/offline
mkdir -p "$OFF"
offline() { env -u ESCROWCTL_SERVER -u ESCROWCTL_TOKEN HOME="$OFF" "$ESCROWCTL" "$@"; }
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
[ ! -e "$OFF/.config" ] || fail "drill part wrote configuration: $(find "$OFF")"
rc=0; cust 3 drill approve "$DRILL" --import "$W/tamper-r.json" >"$W/im.out" 2>&1 || rc=$?
[ $rc = 1 ] || fail "a drill file imported as a batch: $rc $(cat "$W/im.out")"
cust 3 drill approve "$DRILL" --import "$W/batch.json" >"$W/ap.3" 2>&1 || fail "import: $(cat "$W/ap.3")"
grep -q "24 part(s) of custodian 3 sent" "$W/ap.3" || fail "import output: $(cat "$W/ap.3")"
ok "custodian 3 offline: export, drill part without a server, import; tampered R or envelope refused"
approve 1 "$DRILL"
[ "$RC" = 1 ] && grep -q "already" "$W/ap.1" || fail "second batch of index 1: $RC $(cat "$W/ap.1")"
ok "three custodians contributed 24 parts each (one offline); a second batch is refused"

rc=0; aud drill run "$DRILL" >"$W/run.out" 2>"$W/run.err" || rc=$?
[ $rc = 1 ] || fail "run exited $rc: $(cat "$W/run.out" "$W/run.err")"
grep -q "24 record(s), 22 ok, 2 failed" "$W/run.out" || fail "run: $(cat "$W/run.out")"
[ "$(grep -c '^failed ' "$W/run.out")" = 2 ] || fail "failures: $(cat "$W/run.out")"
grep -qx "failed $CORR: AEAD" "$W/run.out" || fail "corrupt record: $(cat "$W/run.out")"
grep -qx "failed $BADV: verifier mismatch" "$W/run.out" || fail "bad verifier: $(cat "$W/run.out")"
ok "the run names exactly the corrupted record (AEAD) and the wrong verifier"

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

# A sample of clean records: all ok.
n=$(sql "SELECT count(*) FROM drill_records WHERE drill_id = '$D2' AND record_id = '$BADV'")
for i in 2 4 5; do approve $i "$D2"; [ "$RC" = 0 ] || fail "approve $i: $(cat "$W/ap.$i")"; done
rc=0; aud drill run "$D2" >"$W/run2.out" 2>"$W/run2.err" || rc=$?
# The sample is random: it holds the wrong-verifier record or not.
if [ "$n" = 0 ]; then
  [ $rc = 0 ] && grep -q "5 record(s), 5 ok, 0 failed" "$W/run2.out" || fail "run 2: $rc $(cat "$W/run2.out" "$W/run2.err")"
else
  [ $rc = 1 ] && grep -q "5 record(s), 4 ok, 1 failed" "$W/run2.out" || fail "run 2: $rc $(cat "$W/run2.out" "$W/run2.err")"
fi
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
