#!/usr/bin/env bash
# t_drill_after.sh - what follows a drill (docs/operations.md "Drills",
# docs/threat-model.md finding 2): a real escrowd on a private database of
# the server fixture, 4 devices of the Python agent (t_drill_after.py), a
# 2-of-3 escrow key, escrowctl drill start --key-out | approve | run --key
# (the auditor's key pinned by the custodians, the log key pinned).
#   - a full drill: after its result its parts are gone (drill_parts and the
#     drill.purge event), its records are disclosed by it (GET /v1/devices,
#     escrowctl device show, the coverage report), and every device is asked
#     to rotate at its next check-in and does
#   - the application role cannot delete the parts of an open drill
#   - a canary drill (one `drill run --canary`, key in memory): real
#     custodian parts open 3 canaries to their sealed
#     secrets; no real record is disclosed and no device is asked to rotate;
#     a real record the server slips into a canary drill's snapshot: the
#     auditor does not sign it; a canary whose proof the server swapped after
#     the signature: the custodian makes no part; a canary without a proof of
#     knowledge of its R is refused by the server
#   - one batch discloses a drill's records; escrowd maintenance discloses
#     them if that step was lost; an expired drill takes no more parts or
#     result, and escrowd maintenance closes it, deletes its parts (audited)
#     and finds nothing more the next time
set -euo pipefail
. "$KE_SRC/tests/server/lib.sh"
. "$KE_SRC/tests/server/t_auth_lib.sh"
. "$KE_SRC/tests/server/t_drill_lib.sh"
TEST_NAME=drill_after
ESCROWCTL=$KE_ESCROWCTL

load_fixture
make_private_db
trap 'rc=$?; [ -z "${RUNPID:-}" ] || kill $RUNPID 2>/dev/null || true; drop_private_db; (exit $rc); cleanup_test' EXIT
start_private main
drill_env
# The audit event ACTION about OBJECT (waits until it is sequenced).
event() {
  local ev=""
  for _ in $(seq 100); do
    ev=$(sql "SELECT string_agg(convert_from(leaf, 'UTF8'), E'\n' ORDER BY seq) FROM audit_log
              WHERE convert_from(leaf, 'UTF8')::jsonb->>'action' = '$1'
                AND convert_from(leaf, 'UTF8')::jsonb->>'object' = '$2'")
    [ -n "$ev" ] && break; sleep 0.1
  done
  echo "$ev"
}

drill_keys 2 3
ENROLL=$(ESCROWCTL_TOKEN=$ADMIN "$ESCROWCTL" enroll-token create --group lab --uses 10 --expires 1h 2>"$W/ctl.err") ||
  fail "enroll-token create: $(cat "$W/ctl.err")"
ST=$W/fleet.json
dev() { python3 "$KE_SRC/tests/server/t_drill_after.py" "$@"; }
dev fleet "$URL" "$ENROLL" 4 "$ST" >"$W/fleet.log" 2>&1 || fail "fleet: $(cat "$W/fleet.log")"
DEVS=$(python3 -c 'import json,sys; print(" ".join(d["device"] for d in json.load(open(sys.argv[1]))))' "$ST")
DEV0=${DEVS%% *}
[ "$(sql "SELECT count(*) FROM escrow_records WHERE state = 'active'")" = 4 ] || fail "fleet size"

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
"$ESCROWCTL" pin add aud1 "$(aud key show | head -n1)" >/dev/null || fail "pin add"
dev checkin "$URL" "$ST" >"$W/ci0.out" 2>&1 || fail "check-in: $(cat "$W/ci0.out")"
[ "$(grep -c ' - -$' "$W/ci0.out")" = 4 ] || fail "a rotation before any drill: $(cat "$W/ci0.out")"
ok "4 devices escrowed; no rotation asked for"

# ---- a full drill ----------------------------------------------------------
D1=$(aud drill start --all --key-out "$W/d1.key" 2>"$W/start1.err") || fail "drill start: $(cat "$W/start1.err")"
http GET "$URL/v1/drills/$D1" -H "Authorization: Bearer $AUD"
[ "$(json_get drill.mode)" = full ] || fail "drill mode: $(cat "$BODYF")"
for i in 1 2; do approve $i "$D1"; [ "$RC" = 0 ] || fail "approve $i: $(cat "$W/ap.$i")"; done
[ "$(sql "SELECT count(*) FROM drill_parts WHERE drill_id = '$D1'")" = 8 ] || fail "parts stored"
# The guard of the schema: not even the application role deletes an open drill's parts.
if sql "DELETE FROM drill_parts WHERE drill_id = '$D1'" >"$W/del.out" 2>&1; then
  fail "the parts of an open drill were deleted"
fi
grep -q "only when their drill is closed" "$W/del.out" || fail "delete refusal: $(cat "$W/del.out")"
if own "DELETE FROM drill_parts WHERE drill_id = '$D1'" >"$W/del.out" 2>&1; then
  fail "the owner deleted the parts of an open drill"
fi
[ "$(sql "SELECT count(*) FROM drill_parts WHERE drill_id = '$D1'")" = 8 ] || fail "parts lost"
ok "an open drill's parts cannot be deleted, not even by the owner"
# As if the disclosure after the first batch had been lost: the result's
# transaction discloses the records before it deletes the parts.
own "UPDATE escrow_records SET state = 'active', disclosed_drill = NULL WHERE disclosed_drill = '$D1';
     UPDATE drills SET disclosed = NULL WHERE id = '$D1'" >/dev/null

rc=0; aud drill run "$D1" --key "$W/d1.key" >"$W/run1.out" 2>"$W/run1.err" || rc=$?
[ $rc = 0 ] || fail "run exited $rc: $(cat "$W/run1.out" "$W/run1.err")"
grep -qx "drill $D1: 4 record(s), 4 ok, 0 failed" "$W/run1.out" || fail "run: $(cat "$W/run1.out")"
grep -qx "parts deleted: 8" "$W/run1.out" || fail "run: $(cat "$W/run1.out")"
grep -q "the one-time key $W/d1.key opens nothing any more but old database backups: delete it" \
  "$W/run1.err" || fail "run: no word about the key file: $(cat "$W/run1.err")"
grep -qx "disclosed by this drill: 4 record(s); each device rotates its key at its next check-in" \
  "$W/run1.out" || fail "run: $(cat "$W/run1.out")"
[ "$(sql "SELECT count(*) FROM drill_parts WHERE drill_id = '$D1'")" = 0 ] || fail "parts left after the result"
[ "$(sql "SELECT state, parts_deleted, disclosed FROM drills WHERE id = '$D1'")" = "done|8|4" ] ||
  fail "drill row: $(sql "SELECT state, parts_deleted, disclosed FROM drills WHERE id = '$D1'")"
ev=$(event drill.purge "drill:$D1")
python3 - "$ev" <<'PY' || fail "drill.purge event: $ev"
import json, sys
d = json.loads(sys.argv[1])["details"]
assert d["parts"] == 8 and d["custodians"] == [1, 2] and d["reason"] == "result", d
PY
http GET "$URL/v1/drills/$D1" -H "Authorization: Bearer $AUD"
[ "$(json_get drill.parts_deleted)" = 8 ] && [ "$(json_get drill.custodian_indices)" = "[1, 2]" ] ||
  fail "drill view after the purge: $(cat "$BODYF")"
ok "after the result: no part left, 8 deleted (drill.purge), custodians 1 and 2 still shown"

[ "$(sql "SELECT count(*) FROM escrow_records WHERE state = 'disclosed' AND disclosed_drill = '$D1'")" = 4 ] ||
  fail "records not disclosed by the drill"
[ -n "$(event drill.disclose "drill:$D1")" ] || fail "no drill.disclose event"
http GET "$URL/v1/devices/$DEV0" -H "Authorization: Bearer $AUD"
[ "$(json_get records.0.state)" = disclosed ] && [ "$(json_get records.0.disclosed_by_drill)" = "$D1" ] ||
  fail "GET /v1/devices: $(cat "$BODYF")"
aud device show "$DEV0" >"$W/show.out" 2>&1 || fail "device show: $(cat "$W/show.out")"
grep -q "disclosed .*disclosed by drill $D1: due at the next check-in" "$W/show.out" ||
  fail "device show: $(cat "$W/show.out")"
aud report coverage >"$W/cov.out" 2>&1 || fail "coverage: $(cat "$W/cov.out")"
[ "$(grep -c "^dev-.* not rotated$" "$W/cov.out")" = 4 ] || fail "coverage: $(cat "$W/cov.out")"
grep -Eq "^disclosed_not_rotated +4 +100.0%$" "$W/cov.out" || fail "coverage totals: $(cat "$W/cov.out")"
ok "the records say disclosed by drill: GET /v1/devices, device show, coverage (disclosed, not rotated)"

dev checkin "$URL" "$ST" --rotate >"$W/ci1.out" 2>&1 || fail "check-in: $(cat "$W/ci1.out")"
[ "$(grep -c ' root disclosed$' "$W/ci1.out")" = 4 ] || fail "check-in answers: $(cat "$W/ci1.out")"
[ "$(grep -c '^rotated ' "$W/ci1.out")" = 4 ] || fail "rotations: $(cat "$W/ci1.out")"
[ "$(sql "SELECT count(*) FROM escrow_records WHERE state = 'rotated' AND disclosed_drill = '$D1'")" = 4 ] ||
  fail "the drilled records are not rotated"
dev checkin "$URL" "$ST" >"$W/ci2.out" 2>&1 || fail "check-in: $(cat "$W/ci2.out")"
[ "$(grep -c ' - -$' "$W/ci2.out")" = 4 ] || fail "a rotation after rotating: $(cat "$W/ci2.out")"
aud report coverage >"$W/cov2.out" 2>&1 || fail "coverage: $(cat "$W/cov2.out")"
grep -Eq "^disclosed_not_rotated +0 +0.0%$" "$W/cov2.out" || fail "coverage after rotation: $(cat "$W/cov2.out")"
ok "every device was asked to rotate (disclosed) at its next check-in, rotated, and is asked no more"

# ---- a canary drill ----------------------------------------------------------
rc=0; aud drill start --canary 3 --key-out "$W/c0.key" >"$W/c0.out" 2>&1 || rc=$?
[ $rc = 2 ] && grep -q -- "--fingerprint" "$W/c0.out" || fail "canary without a pin: $rc $(cat "$W/c0.out")"
rc=0; aud drill start --canary 3 --fingerprint "$(printf '%064d' 0)" --key-out "$W/c0b.key" >"$W/c0.out" 2>&1 || rc=$?
[ $rc != 0 ] || fail "canary drill under a wrong pin started"
ACTIVE=$(sql "SELECT string_agg(id, ',' ORDER BY id) FROM escrow_records WHERE state = 'active'")
# One `drill run --canary` starts it, waits for the custodians and opens it,
# its one-time key in memory only.
aud drill run --canary 3 --fingerprint "$FPR" >"$W/crun.out" 2>"$W/crun.err" &
RUNPID=$!
C1=""
for _ in $(seq 200); do
  C1=$(head -n1 "$W/crun.out" 2>/dev/null || true)
  [ -n "$C1" ] && break
  kill -0 $RUNPID 2>/dev/null || break
  sleep 0.05
done
[ -n "$C1" ] || fail "drill run --canary printed no drill id: $(cat "$W/crun.err")"
grep -q "drill $C1 started: 3 record(s) (canary:3, mode canary)" "$W/crun.err" || fail "canary start: $(cat "$W/crun.err")"
http GET "$URL/v1/drills/$C1" -H "Authorization: Bearer ${CT[2]}"
python3 - "$BODYF" "$C1" <<'PY' || fail "canary drill view: $(cat "$BODYF")"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["drill"]["mode"] == "canary" and d["drill"]["selection"] == "canary:3", d["drill"]
assert len(d["records"]) == 3, d
for r in d["records"]:
    assert r["device_id"] == "canary" and r["volume_id"] == r["record_id"] and r["canary_proof"], r
    # provable in the log like an escrowed record: its escrow.store leaf
    ev = json.loads(r["escrow_event"])
    assert isinstance(r["leaf_index"], int) and ev["seq"] == r["leaf_index"], r
    assert ev["action"] == "escrow.store" and ev["object"] == "record:" + r["record_id"], ev
    det = ev["details"]
    assert det["canary"] == sys.argv[2] and det["device"] == "canary", det
    assert det["volume"] == r["record_id"] and det["envelope_sha256"] == r["envelope_sha256"], det
PY
# Each canary is an escrow.store event of the signed log, marked as one.
[ -n "$(event escrow.store "record:$(sql "SELECT max(record_id) FROM drill_records WHERE drill_id = '$C1'")")" ] ||
  fail "the last canary is not in the audit log"
[ "$(sql "SELECT count(*) FROM audit_log WHERE convert_from(leaf, 'UTF8')::jsonb->>'action' = 'escrow.store'
          AND convert_from(leaf, 'UTF8')::jsonb->'details'->>'canary' = '$C1'")" = 3 ] ||
  fail "canaries not in the audit log"
for i in 2 3; do approve $i "$C1"; [ "$RC" = 0 ] || fail "canary approve $i: $(cat "$W/ap.$i")"; done
rc=0; wait $RUNPID || rc=$?
RUNPID=""
[ $rc = 0 ] || fail "canary run exited $rc: $(cat "$W/crun.out" "$W/crun.err")"
grep -qx "drill $C1: 3 record(s), 3 ok, 0 failed" "$W/crun.out" || fail "canary run: $(cat "$W/crun.out")"
grep -qx "canary drill: 3 of 3 canaries opened to their sealed secrets; no real record was opened or disclosed" \
  "$W/crun.out" || fail "canary run: $(cat "$W/crun.out")"
grep -qx "parts deleted: 6" "$W/crun.out" || fail "canary run: $(cat "$W/crun.out")"
[ "$(sql "SELECT count(*) FROM drill_parts WHERE drill_id = '$C1'")" = 0 ] || fail "canary parts left"
ev=$(event drill.result "drill:$C1")
python3 - "$ev" <<'PY' || fail "canary drill.result: $ev"
import json, sys
d = json.loads(sys.argv[1])["details"]
assert d["mode"] == "canary" and d["total"] == 3 and d["ok"] == 3 and d["custodians"] == [2, 3], d
PY
[ "$(sql "SELECT string_agg(id, ',' ORDER BY id) FROM escrow_records WHERE state = 'active'")" = "$ACTIVE" ] ||
  fail "a canary drill changed the real records"
[ "$(sql "SELECT count(*) FROM escrow_records WHERE disclosed_drill = '$C1'")" = 0 ] || fail "canary disclosed"
dev checkin "$URL" "$ST" >"$W/ci3.out" 2>&1 || fail "check-in: $(cat "$W/ci3.out")"
[ "$(grep -c ' - -$' "$W/ci3.out")" = 4 ] || fail "a rotation after a canary drill: $(cat "$W/ci3.out")"
ok "a canary drill: custodians 2 and 3 opened 3 canaries; nothing disclosed, no rotation, parts gone"

# A hostile server puts a real record into a canary drill's snapshot (a
# trigger swaps each canary's envelope for a real one as it is stored): the
# auditor's client does not sign the statement, so no custodian answers.
REAL=$(sql "SELECT min(id) FROM escrow_records WHERE state = 'active'")
own "CREATE FUNCTION t_swap() RETURNS trigger LANGUAGE plpgsql AS \$\$
     BEGIN
       IF NEW.canary_proof IS NOT NULL THEN
         SELECT envelope, envelope_sha256, substring(envelope FROM 36 FOR 33)
           INTO NEW.envelope, NEW.envelope_sha256, NEW.r_point FROM escrow_records WHERE id = '$REAL';
       END IF;
       RETURN NEW;
     END \$\$;
     CREATE TRIGGER t_swap BEFORE INSERT ON drill_records FOR EACH ROW EXECUTE FUNCTION t_swap()" >/dev/null
rc=0; aud drill start --canary 2 --fingerprint "$FPR" --key-out "$W/cx.key" >"$W/cx.out" 2>"$W/cx.err" || rc=$?
own "DROP TRIGGER t_swap ON drill_records; DROP FUNCTION t_swap()" >/dev/null
CX=$(sql "SELECT id FROM drills WHERE mode = 'canary' AND id <> '$C1'")
[ "$(echo "$CX" | wc -w)" = 1 ] || fail "canary drills: $CX"
[ $rc != 0 ] && grep -q "not a canary of this drill" "$W/cx.err" &&
  grep -q "holds other records than its canaries: not signing it" "$W/cx.err" ||
  fail "a canary drill with a real record was signed: $rc $(cat "$W/cx.out" "$W/cx.err")"
[ "$(sql "SELECT statement IS NULL FROM drills WHERE id = '$CX'")" = t ] || fail "the swapped canary drill is signed"
approve 1 "$CX"
[ "$RC" != 0 ] && [ "$(sql "SELECT count(*) FROM drill_parts WHERE drill_id = '$CX'")" = 0 ] ||
  fail "a custodian answered an unsigned canary drill: $(cat "$W/ap.1")"
ok "a real record in a canary drill's snapshot: the auditor does not sign it, no custodian answers"

# After the signature, a hostile server swaps the canaries' proofs (the
# statement names ids and envelopes, not proofs): each custodian checks each
# canary's proof of knowledge of its R itself and makes no part.
C2=$(aud drill start --canary 2 --fingerprint "$FPR" --key-out "$W/c2.key" 2>"$W/cstart2.err") ||
  fail "canary start 2: $(cat "$W/cstart2.err")"
own "ALTER TABLE drill_records DISABLE TRIGGER drill_records_no_update;
     UPDATE drill_records d SET canary_proof = o.canary_proof FROM drill_records o
       WHERE d.drill_id = '$C2' AND o.drill_id = '$C2' AND o.record_id <> d.record_id;
     ALTER TABLE drill_records ENABLE TRIGGER drill_records_no_update" >/dev/null
approve 1 "$C2"
[ "$RC" = 1 ] && grep -q "is not a canary with a valid proof of knowledge of its R" "$W/ap.1" ||
  fail "a canary with another's proof was answered: $RC $(cat "$W/ap.1")"
[ "$(sql "SELECT count(*) FROM drill_parts WHERE drill_id = '$C2'")" = 0 ] || fail "parts of C2 stored"
ok "a canary whose proof is not its own: the custodian makes no part"
# The signed mode is the drill's: a statement calling a canary drill full
# is refused before its signature is even looked at.
http POST "$URL/v1/drills/$C2/statement" -H "Authorization: Bearer $AUD" -H "Content-Type: application/json" \
  -d "{\"mode\": \"full\", \"records_sha256\": \"$(printf '%064d' 0)\", \"expires\": \"$(date -u -d '+1 day' +%Y-%m-%dT%H:%M:%SZ)\", \"signature\": \"$(printf 'A%.0s' $(seq 86))\"}"
[ "$STATUS" = 409 ] && grep -q "mode is not the drill's" "$BODYF" || fail "statement of another mode: $STATUS $(cat "$BODYF")"
ok "a statement whose mode is not the drill's is refused (409)"

# A canary whose proof is not for its own R (e.g. a real envelope passed off
# as a canary) is refused before anything is stored.
python3 - "$URL" "$AUD" "$PRIV_APP_DSN" "$C1" <<'PY' >"$W/badcanary.out" 2>&1 || fail "bad canary: $(cat "$W/badcanary.out")"
import base64, json, os, subprocess, sys, urllib.request, urllib.error
url, tok, dsn, c1 = sys.argv[1:5]
q = lambda s: subprocess.run(["psql", "-X", "-q", "-At", dsn, "-c", s], check=True,
                             capture_output=True, text=True).stdout.strip()
b64 = lambda h: base64.urlsafe_b64encode(bytes.fromhex(h)).decode().rstrip("=")
env = q("SELECT encode(envelope, 'hex') FROM escrow_records WHERE state = 'active' LIMIT 1")
proof, ver = q("SELECT encode(canary_proof, 'hex') || ' ' || encode(verifier, 'hex') FROM drill_records"
               " WHERE drill_id = '%s' LIMIT 1" % c1).split()
rid = "rec-" + "a" * 26
body = {"drill_id": "drl-" + "b" * 26, "selection": "canary:1", "mode": "canary",
        "E": base64.urlsafe_b64encode(bytes.fromhex(q("SELECT encode(e_point, 'hex') FROM drills"
                                                      " WHERE id = '%s'" % c1))).decode().rstrip("="),
        "nonce": "A" * 22, "signature": "A" * 86,
        "canaries": [{"record_id": rid, "envelope": b64(env), "verifier": b64(ver), "proof": b64(proof)}]}
req = urllib.request.Request(url + "/v1/drills", json.dumps(body).encode(), method="POST",
                             headers={"Authorization": "Bearer " + tok, "Content-Type": "application/json"})
try:
    urllib.request.urlopen(req)
    sys.exit("accepted")
except urllib.error.HTTPError as e:
    ans = json.loads(e.read())
    assert e.code == 400 and "proof" in ans["error"]["message"], (e.code, ans)
PY
ok "a canary without a proof of knowledge of its own R is refused (400)"

# ---- an expired drill and escrowd maintenance -------------------------------
D3=$(aud drill start --sample 2 --key-out "$W/d3.key" 2>"$W/start3.err") || fail "drill start 3: $(cat "$W/start3.err")"
approve 1 "$D3"; [ "$RC" = 0 ] || fail "approve 1 of D3: $(cat "$W/ap.1")"
[ "$(sql "SELECT count(*) FROM escrow_records WHERE disclosed_drill = '$D3' AND state = 'disclosed'")" = 2 ] ||
  fail "one batch did not disclose the sampled records"
# As if escrowd had died between storing the batch and disclosing its
# records: maintenance discloses them (and deletes nothing of an open drill).
own "UPDATE escrow_records SET state = 'active', disclosed_drill = NULL WHERE disclosed_drill = '$D3';
     UPDATE drills SET disclosed = NULL WHERE id = '$D3'" >/dev/null
priv_escrowd maintenance >"$W/m0.out" 2>"$W/m0.err" || fail "maintenance: $(cat "$W/m0.out" "$W/m0.err")"
[ "$(cat "$W/m0.out")" = "drill $D3: 2 record(s) disclosed
maintenance: 0 drill(s) expired, 0 part(s) of 0 drill(s) deleted, 2 record(s) disclosed" ] ||
  fail "maintenance (disclosure): $(cat "$W/m0.out")"
[ "$(sql "SELECT count(*) FROM escrow_records WHERE disclosed_drill = '$D3' AND state = 'disclosed'")" = 2 ] &&
  [ "$(sql "SELECT count(*) FROM drill_parts WHERE drill_id = '$D3'")" = 2 ] ||
  fail "maintenance did not disclose the records of an open drill, or deleted its parts"
own "UPDATE drills SET created = now() - interval '8 days', open_until = now() - interval '1 day'
     WHERE id = '$D3'" >/dev/null
approve 2 "$D3"
[ "$RC" = 1 ] && grep -q "expired" "$W/ap.2" || fail "an expired drill took parts: $RC $(cat "$W/ap.2")"
[ "$(sql "SELECT count(*) FROM drill_parts WHERE drill_id = '$D3'")" = 2 ] || fail "D3 parts"
rc=0; aud drill run "$D3" --key "$W/d3.key" >"$W/run3.out" 2>"$W/run3.err" || rc=$?
[ $rc != 0 ] && grep -q "The drill expired: it takes nothing more" "$W/run3.err" ||
  fail "a result for an expired drill: $rc $(cat "$W/run3.out" "$W/run3.err")"
priv_escrowd maintenance >"$W/m1.out" 2>"$W/m1.err" || fail "maintenance: $(cat "$W/m1.out" "$W/m1.err")"
grep -qx "drill $D3: expired, 2 part(s) deleted" "$W/m1.out" || fail "maintenance: $(cat "$W/m1.out")"
grep -qx "maintenance: 1 drill(s) expired, 2 part(s) of 1 drill(s) deleted, 0 record(s) disclosed" "$W/m1.out" ||
  fail "maintenance: $(cat "$W/m1.out")"
[ "$(sql "SELECT count(*) FROM drill_parts WHERE drill_id = '$D3'")" = 0 ] || fail "expired drill's parts left"
[ "$(sql "SELECT state, parts_deleted FROM drills WHERE id = '$D3'")" = "expired|2" ] || fail "D3 row"
[ -n "$(event drill.expire "drill:$D3")" ] || fail "no drill.expire event"
ev=$(event drill.purge "drill:$D3")
python3 - "$ev" <<'PY' || fail "drill.purge event of the expired drill: $ev"
import json, sys
e = json.loads(sys.argv[1])
assert e["actor"] == "system" and e["details"]["reason"] == "expired" and e["details"]["parts"] == 2, e
PY
priv_escrowd maintenance >"$W/m2.out" 2>"$W/m2.err" || fail "maintenance 2: $(cat "$W/m2.out" "$W/m2.err")"
[ "$(cat "$W/m2.out")" = "maintenance: 0 drill(s) expired, 0 part(s) of 0 drill(s) deleted, 0 record(s) disclosed" ] ||
  fail "maintenance 2: $(cat "$W/m2.out")"
ok "an expired drill takes no parts; escrowd maintenance closes it and deletes its parts, once"

# No secret anywhere.
pg_dump -a "$PRIV_OWN_DSN" >"$W/dump.sql" 2>/dev/null || fail "pg_dump"
while read -r s; do
  [ -n "$s" ] || continue
  for f in "$W"/run*.out "$W"/run*.err "$W"/crun*.out "$W"/ap.* "$W"/m*.out "$W/dump.sql" "$TW/main.log"; do
    [ -f "$f" ] || continue
    ! grep -qF -- "$s" "$f" || fail "a secret is in $f"
  done
done <"$ST.secrets"
ok "no secret in the outputs, the database or the server log"
