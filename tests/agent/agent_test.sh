#!/usr/bin/env bash
# agent_test.sh CASE - end-to-end tests of escrow-agent against
# mock_escrowd.py (an independent implementation of the agent protocol),
# with fake manage-bde / fdesetup tools and real LUKS2 image files.
#   enroll escrow retry bitlocker filevault escrowkey luks luks_crash
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/agent_lib.sh"

case_enroll() {
  start_mock
  local bad=0000000000000000000000000000000000000000000000000000000000000000
  ag enroll --log-key "$LOGKEY" --server "$URL" --token "$TOKEN" --escrow-fingerprint "$bad"
  expect_rc 5 "a manifest with another fingerprint"
  expect_err "refusing to enrol: the server's escrow key has fingerprint $FPR, not the pinned $bad"
  [ ! -e "$SD/state.json" ] || fail "state written after a refused enrolment"
  ag enroll --log-key "$LOGKEY" --server "$URL" --token "ket_$(printf 'B%.0s' $(seq 1 43))" --escrow-fingerprint "$FPR"
  expect_rc 3 "a wrong token is a 4xx"
  expect_err "bad_token"
  [ "$(mockq "sum(1 for x in q if x['path'] == '/v1/enroll')")" = 2 ] || fail "a 4xx was retried"
  ag enroll --log-key "$LOGKEY" --server "$URL" --token ket_short --escrow-fingerprint "$FPR"
  expect_rc 2 "a malformed token"
  ag enroll --log-key "$LOGKEY" --server http://escrow.example.org --token "$TOKEN" --escrow-fingerprint "$FPR"
  expect_rc 2 "plain http to a remote host"
  ag enroll --log-key "$LOGKEY" --server "$URL" --token "$TOKEN" --escrow-fingerprint "${FPR:0:10}"
  expect_rc 2 "a short fingerprint"
  # The audit log key is pinned from the operator, or trusted on first use
  # only when asked for, with a warning.
  ag enroll --server "$URL" --token "$TOKEN" --escrow-fingerprint "$FPR"
  expect_rc 2 "no --log-key nor --log-key-tofu"
  expect_err "refusing to enrol without the audit log key: pass --log-key VKEY"
  ag enroll --server "$URL" --token "$TOKEN" --escrow-fingerprint "$FPR" --log-key "$LOGKEY" \
    --log-key-tofu
  expect_rc 2 "--log-key with --log-key-tofu"
  ag enroll --server "$URL" --token "$TOKEN" --escrow-fingerprint "$FPR" --log-key "${LOGKEY%?}"
  expect_rc 2 "a malformed --log-key"
  local other='escrow.example.org/audit+f60e6d1e+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4'
  ag enroll --server "$URL" --token "$TOKEN" --escrow-fingerprint "$FPR" --log-key "$other"
  expect_rc 5 "another log key than the server's"
  expect_err "refusing to enrol: the server's audit log key is ${LOGKEY//+/\\+}, not the pinned one"
  [ ! -e "$SD/state.json" ] || fail "state written after a refused log key"
  local sd=$SD
  SD=$W/state-tofu
  ag enroll --server "$URL" --token "$TOKEN" --escrow-fingerprint "$FPR" --log-key-tofu
  expect_rc 0 "--log-key-tofu"
  expect_err "warning: trusting the audit log key ${LOGKEY//+/\\+} on first use"
  [ "$(stq "s['log_key']")" = "$LOGKEY" ] || fail "TOFU log key not pinned"
  SD=$sd
  enroll
  grep -q "enrolled as $DEV" "$W/agent.out" || fail "enrolment output"
  [ "$(stat -c %a "$SD")" = 700 ] || fail "state dir mode"
  for f in state.json device.key lock; do
    [ "$(stat -c %a "$SD/$f")" = 600 ] || fail "$f mode"
  done
  [ "$(mockq "d['devices']['$DEV']['hostname']")" = test-host ] || fail "hostname not reported"
  [ "$(stq "s['pinned']")" = "['$FPR']" ] || fail "fingerprint not pinned"
  [ "$(stq "s['log_key'].split('+')[0]")" = escrow.test/audit ] || fail "log key not pinned"
  ag enroll --log-key "$LOGKEY" --server "$URL" --token "$TOKEN" --escrow-fingerprint "$FPR"
  expect_rc 1 "enrolling twice"
  expect_err "already enrolled"
  ag status
  expect_rc 6 "status with no volume"
  ag pin
  expect_rc 0 "pin list"
  grep -q "^\* $FPR" "$W/agent.out" || fail "pin list"
  ag pin --escrow-fingerprint "$(echo "$FPR" | tr a-f A-F | rev)"
  expect_rc 0 "pin another"
  [ "$(stq "len(s['pinned'])")" = 2 ] || fail "pin not recorded"
  chmod 755 "$SD"
  ag status
  expect_rc 1 "a state dir others can read"
  expect_err "accessible to group or others"
  chmod 700 "$SD"
}

case_escrow() {
  start_mock
  enroll
  local s1=correct-horse-battery-staple-7Qz s2=Tr0ub4dor-and-3-more-words-9xK
  agin 'aaaaaaaaaaaaaaaaaaaaaaaa' escrow --provider stdin --volume weak
  expect_rc 1 "a low-entropy secret"
  expect_err "low in entropy: it is one byte repeated"
  [ "$(mockq "len(r)")" = 0 ] || fail "a refused secret was uploaded"
  agin 'aaaaaaaaaaaaaaaaaaaaaaaa' escrow --provider stdin --volume weak --force
  expect_rc 0 "--force"
  agin 'short' escrow --provider stdin --volume v1
  expect_rc 1 "a secret under 16 bytes"
  ag escrow --provider stdin
  expect_rc 2 "stdin without --volume"
  ag escrow --provider nope --volume v1
  expect_rc 2 "unknown provider"
  agin "$s1"$'\n' escrow --provider stdin --volume v1 --key-id disk0
  expect_rc 0 "escrow s1"
  grep -q "volume v1 escrowed: record rec-2, audit leaf 1" "$W/agent.out" || fail "escrow output"
  expect_err "receipt verified"
  agin "$s1" escrow --provider stdin --volume v1 --key-id disk0
  expect_rc 0 "the same secret again"
  expect_err "already stored"
  [ "$(mockq "len([x for x in r if x['volume'] == 'v1'])")" = 1 ] || fail "a second record"
  [ "$(mockq "len([x for x in q if x['method'] == 'PUT' and x['path'].endswith('/v1')])")" = 2 ] ||
    fail "the same envelope was not re-sent"
  agin "$s2" escrow --provider stdin --volume v1 --key-id disk0
  expect_rc 0 "escrow s2"
  [ "$(mockq "[x['state'] for x in r if x['volume'] == 'v1']")" = "['superseded', 'active']" ] ||
    fail "the old record is not superseded"
  [ "$(open_record rec-2)" = "$s1" ] || fail "the first record does not open to s1"
  [ "$(open_record "$(active_record v1)")" = "$s2" ] || fail "the active record does not open to s2"
  ag status
  expect_rc 0 "status"
  grep -Eq "^v1 +stdin +yes +rec-3 " "$W/agent.out" || fail "status table"
  ag status --json
  expect_rc 0 "status --json"
  "$PY" - "$W/agent.out" <<'PY' || fail "status --json content"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["ok"] is True
v = {x["volume_id"]: x for x in s["volumes"]}
assert v["v1"]["record_id"] == "rec-3" and v["v1"]["escrowed"] and v["v1"]["leaf_index"] == 2
assert v["v1"]["key_id"] == "disk0" and v["v1"]["problems"] == []
PY
  ag checkin
  expect_rc 0 "check-in of stdin volumes"
  "$PY" - "$W/mock/records.json" <<'PY' || fail "check-in body"
import json, sys
c = json.load(open(sys.argv[1]))["checkins"][-1]["body"]
assert c["agent_version"]
v = {x["volume_id"]: x for x in c["volumes"]}
assert v["v1"] == {"volume_id": "v1", "record_id": "rec-3", "unlock_check": "unsupported"}, v
PY
  # Typed at a terminal: prompted, not echoed.
  local s3=typed-at-a-terminal-Wq3-lantern
  set +e
  "$PY" "$SRC/tty_run.py" "$s3" "$AGENT" escrow --provider stdin --volume tty1 --state-dir "$SD" \
    >"$W/tty.out" 2>&1
  RC=$?
  set -e
  cat "$W/tty.out" >>"$W/agent.log"
  expect_rc 0 "escrow typed at a terminal"
  grep -q "recovery secret (not shown)" "$W/tty.out" || fail "no prompt"
  [ "$(open_record "$(active_record tty1)")" = "$s3" ] || fail "the typed secret"
  # Not verified for longer than two check-in intervals: status says so;
  # the next check-in (the server confirms the record) clears it.
  "$PY" - "$SD/state.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
for v in s["volumes"].values():
    v["last_verified"] = "2020-01-01T00:00:00Z"
json.dump(s, open(sys.argv[1], "w"))
PY
  ag status
  expect_rc 6 "stale verification"
  grep -q "not verified recently" "$W/agent.out" || fail "staleness not shown"
  ag checkin
  expect_rc 0 "check-in"
  ag status
  expect_rc 0 "verified again"
  # Signed answers only: a tampered state receipt is noticed by status.
  "$PY" - "$SD/state.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
s["volumes"]["v1"]["receipt"] = s["volumes"]["v1"]["receipt"].replace("rec-3", "rec-9")
json.dump(s, open(sys.argv[1], "w"))
PY
  ag status
  expect_rc 6 "a tampered receipt"
  grep -q "the stored receipt does not verify" "$W/agent.out" || fail "tampered receipt report"
  expect_no_secret_in_logs "$s1" "$s2" "$s3"
}

case_retry() {
  start_mock
  enroll
  local s=Jx8-retry-secret-with-entropy-Q2w
  control '{"fail_put": 2}'
  agin "$s" escrow --provider stdin --volume r1
  expect_rc 0 "two 503s, then success"
  expect_err "try 1 of 6 failed .*HTTP 503 db_unavailable.*retrying in"
  [ "$(mockq "len([x for x in q if x['method'] == 'PUT'])")" = 3 ] || fail "not 3 tries"
  control '{"refuse_put": 1}'
  agin "$s-b" escrow --provider stdin --volume r2
  expect_rc 3 "a 4xx"
  expect_err "the server refused it: injected refusal \(HTTP 400 bad_request\)"
  expect_err "volume r2 is NOT escrowed"
  [ "$(mockq "len([x for x in q if x['path'].endswith('/r2')])")" = 1 ] || fail "a 4xx was retried"
  control '{"fail_put": 10}'
  agin "$s-c" escrow --provider stdin --volume r3 --retries 3
  expect_rc 4 "5xx on every try"
  expect_err "escrow of volume r3 failed after 3 tries"
  [ "$(mockq "len([x for x in r if x['volume'] == 'r3'])")" = 0 ] || fail "stored despite 503"
  ag status
  expect_rc 6 "status with a pending upload"
  grep -q "upload pending" "$W/agent.out" || fail "status does not show the pending upload"
  control '{}'
  ag checkin
  expect_rc 0 "check-in sends the pending upload"
  [ "$(mockq "len([x for x in r if x['volume'] == 'r3'])")" = 1 ] || fail "pending upload not sent"
  [ "$(open_record "$(active_record r3)")" = "$s-c" ] || fail "r3 does not open"
  control '{"drop_put": 1}'
  agin "$s-d" escrow --provider stdin --volume r4
  expect_rc 0 "stored but the answer was lost"
  [ "$(mockq "len([x for x in r if x['volume'] == 'r4'])")" = 1 ] || fail "a lost answer made two records"
  [ "$(mockq "len([x for x in q if x['path'].endswith('/r4')])")" = 2 ] || fail "not resent"
  control '{"bad_receipt": "sig"}'
  agin "$s-e" escrow --provider stdin --volume r5
  expect_rc 5 "a receipt signed by another key"
  expect_err "receipt does not verify against the pinned log key"
  control '{"bad_receipt": "line"}'
  agin "$s-e" escrow --provider stdin --volume r5
  expect_rc 5 "a receipt with a wrong line"
  expect_err "its audit leaf index differs"
  [ "$(stq "'record_id' in s['volumes']['r5']")" = False ] || fail "counted as escrowed"
  control '{}'
  agin "$s-e" escrow --provider stdin --volume r5
  expect_rc 0 "a good receipt at last"
  [ "$(mockq "len([x for x in r if x['volume'] == 'r5'])")" = 1 ] || fail "r5 records"
  # The audit log (agent-protocol.md section 4, "Log consistency").
  [ -n "$(stq "s.get('audit_checkpoint', '')")" ] || fail "no saved checkpoint"
  control '{"bad_event": true}'
  agin "$s-g" escrow --provider stdin --volume r7
  expect_rc 5 "an escrow event that is not this escrow"
  expect_err "the audit event the server answered is not this escrow"
  control '{"fork_log": true}'
  ag checkin
  expect_rc 5 "check-in on a forked log"
  expect_err "FORKED LOG VIEW: the server's checkpoint \(tree size [0-9]+\) is not consistent with the one this agent saved \(tree size [0-9]+\)"
  [ "$(stq "'record_id' in s['volumes']['r7']")" = False ] || fail "counted as escrowed on a fork"
  control '{"rollback_log": 1}'
  ag checkin
  expect_rc 5 "check-in on a rolled-back log"
  expect_err "FORKED LOG VIEW: the server's checkpoint \(tree size 1\) is older"
  control '{}'
  ag checkin
  expect_rc 0 "the honest log again: the pending upload is counted"
  [ "$(stq "'record_id' in s['volumes']['r7']")" = True ] || fail "r7 not escrowed"
  kill "$MOCK_PID"; wait "$MOCK_PID" 2>/dev/null || true; MOCK_PID=""
  local t0=$SECONDS
  agin "$s-f" escrow --provider stdin --volume r6 --retries 3
  expect_rc 4 "server down"
  expect_err "cannot reach http://127.0.0.1"
  [ $((SECONDS - t0)) -lt 20 ] || fail "retries not bounded"
  agin "$s-f" escrow --provider stdin --volume r6 --retries 50 --retry-max-time 1 \
    --retry-delay-ms 400 --retry-max-delay-ms 400
  expect_rc 4 "retry time limit"
  expect_err "retry time limit 1 s"
  expect_no_secret_in_logs "$s" "$s-b" "$s-c" "$s-d" "$s-e" "$s-f"
}

# ---- BitLocker (fake manage-bde) ------------------------------------------------
bde_pw() { "$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))[$1]['password'])" "$W/bde.json"; }
bde_id() { "$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))[$1]['id'])" "$W/bde.json"; }
bde_n() { "$PY" -c "import json,sys; print(len(json.load(open(sys.argv[1]))))" "$W/bde.json"; }

case_bitlocker() {
  start_mock
  enroll
  export FAKE_BDE_STATE=$W/bde.json FAKE_BDE_LANG=${BDE_LANG:-de}
  echo '[{"id": "{0B4C6C0E-6F5A-4B55-9E3A-1D2C3B4A5F60}", "password": "541772-440143-582263-513117-171534-587862-296956-456676"}]' >"$W/bde.json"
  local p0; p0=$(bde_pw 0)
  ag escrow --provider bitlocker --volume C: --manage-bde "$SRC/fake_manage_bde.py"
  expect_rc 0 "escrow C:"
  [ "$(mockq "[x['key_id'] for x in r if x['volume'] == 'C:']")" = "['{0B4C6C0E-6F5A-4B55-9E3A-1D2C3B4A5F60}']" ] ||
    fail "key id"
  [ "$(open_record "$(active_record C:)")" = "$p0" ] || fail "C: does not open to the password"
  ag checkin
  expect_rc 0 "check-in"
  [ "$(mockq "c[-1]['body']['volumes'][0]['unlock_check']")" = ok ] || fail "unlock check"
  # Someone replaced the protector on the machine: drift, re-escrowed.
  echo '[{"id": "{1C5D7D1F-7A6B-4C66-8F4B-2E3D4C5B6A71}", "password": "088946-350922-018117-551661-450659-374066-487025-085932"}]' >"$W/bde.json"
  ag checkin
  expect_rc 0 "check-in after drift"
  expect_err "is not the escrowed one; re-escrowing"
  [ "$(mockq "c[-1]['body']['volumes'][0]['unlock_check']")" = failed ] || fail "unlock after drift"
  [ "$(open_record "$(active_record C:)")" = "$(bde_pw 0)" ] || fail "drift not re-escrowed"
  # The key was disclosed: rotate.
  local old_id; old_id=$(bde_id 0)
  control '{"rotate": [{"volume_id": "C:", "reason": "disclosed"}]}'
  ag checkin
  expect_rc 0 "rotation"
  [ "$(bde_n)" = 1 ] && [ "$(bde_id 0)" != "$old_id" ] || fail "old protector not replaced"
  [ "$(open_record "$(active_record C:)")" = "$(bde_pw 0)" ] || fail "new password not escrowed"
  [ "$(stq "'pending' in s['volumes']['C:'] or 'rotate' in s['volumes']['C:']")" = False ] ||
    fail "rotation left state behind"
  # Killed after the receipt, before -delete: the rerun converges.
  old_id=$(bde_id 0)
  local nrec; nrec=$(mockq "len(r)")
  control '{"rotate": [{"volume_id": "C:", "reason": "requested"}]}'
  ESCROW_AGENT_TEST_CRASH=after-receipt ag checkin
  expect_rc 137 "killed"
  [ "$(bde_n)" = 2 ] || fail "expected old and new protector after the kill"
  [ "$(open_record "$(active_record C:)")" = "$(bde_pw 1)" ] || fail "new password not escrowed"
  ag checkin
  expect_rc 0 "rerun after the kill"
  [ "$(bde_n)" = 1 ] && [ "$(bde_id 0)" != "$old_id" ] || fail "did not converge"
  [ "$(mockq "len(r)")" = $((nrec + 1)) ] || fail "the rerun made another record"
  # Killed between adding the protector and recording it.
  control '{"rotate": [{"volume_id": "C:", "reason": "requested"}]}'
  ESCROW_AGENT_TEST_CRASH=after-upload ag checkin
  expect_rc 137 "killed after the upload"
  ag checkin
  expect_rc 0 "rerun"
  [ "$(bde_n)" = 1 ] || fail "did not converge (after-upload)"
  [ "$(open_record "$(active_record C:)")" = "$(bde_pw 0)" ] || fail "final password not escrowed"
  [ "$(mockq "len(r)")" = $((nrec + 2)) ] || fail "duplicate records"
  ag status
  expect_rc 0 "status"
  echo '[]' >"$W/bde.json"
  ag escrow --provider bitlocker --volume D: --manage-bde "$SRC/fake_manage_bde.py"
  expect_rc 1 "no protector"
  expect_err "failed \(exit status 1\)"
  expect_no_secret_in_logs 541772-440143 088946-350922
}

# ---- FileVault (fake fdesetup) -----------------------------------------------------
case_filevault() {
  start_mock
  enroll
  export FAKE_FV_STATE=$W/fv.json
  echo '{"key": "AU2A-PHMK-WBGX-PWKX-M3X3-VAPY", "lvuuid": "1F2E3D4C-5B6A-4978-8695-A4B3C2D1E0F9"}' >"$W/fv.json"
  local vol=fv-1F2E3D4C-5B6A-4978-8695-A4B3C2D1E0F9
  ag escrow --provider filevault --fdesetup "$SRC/fake_fdesetup.py"
  expect_rc 2 "no plist"
  expect_err "shows a personal recovery key only once"
  ag escrow --provider filevault --plist "$SRC/fixtures/fv-changerecovery.plist" \
    --fdesetup "$SRC/fake_fdesetup.py"
  expect_rc 0 "escrow from the plist"
  [ "$(mockq "[x['key_id'] for x in r if x['volume'] == '$vol']")" = "['fv:1F2E3D4C-5B6A-4978-8695-A4B3C2D1E0F9']" ] ||
    fail "key id"
  [ "$(open_record "$(active_record $vol)")" = AU2A-PHMK-WBGX-PWKX-M3X3-VAPY ] || fail "does not open"
  grep -q AU2A-PHMK "$SD/state.json" && fail "the kept key is in the state in clear"
  ag escrow --provider filevault --volume "$vol"
  expect_rc 0 "re-escrow from the kept key"
  ag checkin
  expect_rc 0 "check-in"
  [ "$(mockq "c[-1]['body']['volumes'][0]['unlock_check']")" = ok ] || fail "validaterecovery"
  control "{\"rotate\": [{\"volume_id\": \"$vol\", \"reason\": \"disclosed\"}]}"
  ag checkin
  expect_rc 0 "rotation"
  local k; k=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1]))['key'])" "$W/fv.json")
  [ "$k" != AU2A-PHMK-WBGX-PWKX-M3X3-VAPY ] || fail "not rotated"
  [ "$(open_record "$(active_record $vol)")" = "$k" ] || fail "new key not escrowed"
  ag checkin
  expect_rc 0 "check-in after rotation"
  [ "$(mockq "c[-1]['body']['volumes'][0]['unlock_check']")" = ok ] || fail "new key validates"
  # fdesetup changed the key and died without printing it: detected.
  control "{\"rotate\": [{\"volume_id\": \"$vol\", \"reason\": \"requested\"}]}"
  FAKE_FV_FAIL_AFTER_CHANGE=1 ag checkin
  expect_rc 1 "changerecovery failed"
  ag checkin
  expect_rc 6 "the new key was lost"
  expect_err "the new key was lost in a crash; an operator must run"
  expect_no_secret_in_logs AU2A-PHMK "$k"
}

# ---- escrow key change -----------------------------------------------------------------
case_escrowkey() {
  start_mock
  enroll
  export FAKE_BDE_STATE=$W/bde.json FAKE_BDE_LANG=en
  echo '[{"id": "{0B4C6C0E-6F5A-4B55-9E3A-1D2C3B4A5F60}", "password": "541772-440143-582263-513117-171534-587862-296956-456676"}]' >"$W/bde.json"
  ag escrow --provider bitlocker --volume C: --manage-bde "$SRC/fake_manage_bde.py"
  expect_rc 0 "escrow C:"
  agin 'stdin-secret-for-the-key-change-Zq9' escrow --provider stdin --volume s1
  expect_rc 0 "escrow s1"
  local fpr2; fpr2=$(ceremony "$W/key2")
  control "{\"manifest\": \"$W/key2/escrow-key.json\"}"
  ag checkin
  expect_rc 6 "an unpinned escrow key"
  expect_err "announces escrow key $fpr2, which is NOT pinned"
  [ "$(stq "s.get('unpinned')")" = "$fpr2" ] || fail "unpinned not recorded"
  [ "$(mockq "len([x for x in r if x['state'] == 'active' and x['volume'] == 'C:'])")" = 1 ] || fail "records"
  ag status
  expect_rc 6 "status with an unpinned key"
  ag checkin
  expect_rc 6 "still unpinned"
  [ "$(mockq "c[-1]['body'].get('escrow_key')")" = unpinned ] || fail "unpinned not reported"
  ag pin --escrow-fingerprint "$fpr2"
  expect_rc 0 "pin"
  ag checkin
  expect_rc 6 "re-escrow: the stdin volume needs an operator"
  expect_err "volume s1 must be escrowed again \(new escrow key\), which needs an operator"
  [ "$(stq "s['escrow_fingerprint']")" = "$fpr2" ] || fail "new key not adopted"
  local rec; rec=$(active_record C:)
  [ "$(mockq "[x['envelope'] for x in r if x['record_id'] == '$rec'][0]")" != "" ]
  [ "$(open_record "$rec" "$W/key2")" = 541772-440143-582263-513117-171534-587862-296956-456676 ] ||
    fail "C: not re-escrowed under the new key"
  agin 'stdin-secret-for-the-key-change-Zq9' escrow --provider stdin --volume s1
  expect_rc 0 "operator re-escrows s1"
  ag checkin
  expect_rc 0 "all under the new key"
  ag status
  expect_rc 0 "status"
}

# ---- LUKS ----------------------------------------------------------------------------------
luks_image() {
  truncate -s 20M "$W/disk.img"
  printf '%s' "$(head -c 48 /dev/urandom | base64 -w0)" >"$W/unlock.key"
  cryptsetup luksFormat --batch-mode --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
    --key-file "$W/unlock.key" "$W/disk.img" >/dev/null
  LVOL=luks-$(cryptsetup luksUUID "$W/disk.img")
}

active_slots() {
  cryptsetup luksDump "$W/disk.img" | sed -n '/^Keyslots:/,/^Tokens:/p' | grep -cE '^  [0-9]+: luks2'
}

# opens PASSPHRASE: does it open the image?
opens() {
  printf '%s' "$1" | cryptsetup open --test-passphrase --key-file - "$W/disk.img" 2>/dev/null
}

case_luks() {
  start_mock
  enroll
  luks_image
  ag luks add --device "$W/disk.img"
  expect_rc 2 "add without an unlock key"
  ag luks add --device "$W/disk.img" --unlock-keyfile "$W/unlock.key"
  expect_rc 0 "luks add"
  [ "$(active_slots)" = 2 ] || fail "expected 2 keyslots"
  local p1; p1=$(open_record "$(active_record "$LVOL")")
  echo "$p1" | grep -Eq '^([A-Z2-7]{5}-){7}[A-Z2-7]{5}$' || fail "passphrase format"
  opens "$p1" || fail "the escrowed passphrase does not open the image"
  grep -qF "$p1" "$SD/state.json" && fail "the passphrase is in the state in clear"
  ag luks add --device "$W/disk.img" --unlock-keyfile "$W/unlock.key"
  expect_rc 1 "a second add"
  expect_err "already has an escrowed recovery keyslot"
  ag checkin
  expect_rc 0 "check-in"
  [ "$(mockq "[v['unlock_check'] for v in c[-1]['body']['volumes'] if v['volume_id'] == '$LVOL'][0]")" = ok ] ||
    fail "keyslot check"
  ag luks rotate --device "$W/disk.img"
  expect_rc 0 "rotate"
  local p2; p2=$(open_record "$(active_record "$LVOL")")
  [ "$(active_slots)" = 2 ] || fail "rotate did not leave exactly one recovery keyslot"
  opens "$p2" || fail "the new passphrase does not open"
  opens "$p1" && fail "the old passphrase still opens"
  cryptsetup open --test-passphrase --key-file "$W/unlock.key" "$W/disk.img" ||
    fail "the unlock key was touched"
  # Rotation asked by the server (the key was disclosed).
  control "{\"rotate\": [{\"volume_id\": \"$LVOL\", \"reason\": \"disclosed\"}]}"
  ag checkin
  expect_rc 0 "check-in rotation"
  local p3; p3=$(open_record "$(active_record "$LVOL")")
  [ "$p3" != "$p2" ] && opens "$p3" && ! opens "$p2" && [ "$(active_slots)" = 2 ] ||
    fail "check-in rotation"
  ag status
  expect_rc 0 "status"
  # Someone removed the recovery keyslot: the check-in says so.
  local slot; slot=$(stq "s['volumes']['$LVOL']['slot']")
  cryptsetup luksKillSlot --batch-mode --key-file "$W/unlock.key" "$W/disk.img" "$slot"
  ag checkin
  expect_rc 6 "a removed keyslot"
  expect_err "the escrowed key does NOT unlock the volume"
  [ "$(mockq "[v['unlock_check'] for v in c[-1]['body']['volumes'] if v['volume_id'] == '$LVOL'][0]")" = failed ] ||
    fail "unlock failure not reported"
  ag status
  expect_rc 6 "status after a removed keyslot"
  ag luks add --device "$W/disk.img" --unlock-keyfile "$W/unlock.key"
  expect_rc 0 "add after the slot was removed"
  opens "$(open_record "$(active_record "$LVOL")")" || fail "re-added passphrase"
  # The device moved (a new name after a reboot): found by UUID or reported,
  # and a rotation naming the new path records it.
  mv "$W/disk.img" "$W/disk-moved.img"
  ag checkin
  expect_rc 6 "the device is gone from its recorded path"
  expect_err "the LUKS device with UUID .* is not at"
  ag luks rotate --device "$W/disk-moved.img"
  expect_rc 0 "rotate at the new path"
  mv "$W/disk-moved.img" "$W/disk.img.new"
  cp "$W/disk.img.new" "$W/other.img"
  cryptsetup luksUUID --batch-mode --uuid "$(cat /proc/sys/kernel/random/uuid)" "$W/other.img"
  mv "$W/other.img" "$W/disk-moved.img"
  ag checkin
  expect_rc 6 "another LUKS device at the recorded path"
  mv "$W/disk.img.new" "$W/disk-moved.img"
  ag checkin
  expect_rc 0 "check-in at the new path"
  expect_no_secret_in_logs "$p1" "$p2" "$p3"
}

# Kill the agent at each step of a rotation; the rerun converges and there
# is always an escrowed passphrase that opens the image.
case_luks_crash() {
  # The crash hook lives in the test build only; the installed agent has
  # neither the code nor the variable's name, and ignores the variable.
  grep -q ESCROW_AGENT_TEST_CRASH "$AGENT_HOOKS" || fail "the test build lacks its hook"
  grep -q ESCROW_AGENT_TEST_CRASH "$AGENT" && fail "the installed agent carries the test hook"
  start_mock
  enroll
  luks_image
  ag luks add --device "$W/disk.img" --unlock-keyfile "$W/unlock.key"
  expect_rc 0 "luks add"
  for point in after-slot-add after-upload after-receipt; do
    local before; before=$(mockq "len(r)")
    ESCROW_AGENT_TEST_CRASH=$point ag luks rotate --device "$W/disk.img"
    expect_rc 137 "killed at $point"
    opens "$(open_record "$(active_record "$LVOL")")" ||
      fail "no escrowed working key after a kill at $point"
    [ "$(stq "s['volumes']['$LVOL']['pending']['step']")" != "" ] || fail "nothing pending"
    ag status
    expect_rc 6 "status shows the unfinished rotation"
    ag luks rotate --device "$W/disk.img"
    expect_rc 0 "rerun after $point"
    expect_err "finishing the interrupted rotate"
    [ "$(active_slots)" = 2 ] || fail "not exactly one recovery keyslot after $point"
    [ "$(mockq "len(r)")" = $((before + 1)) ] || fail "records after $point"
    opens "$(open_record "$(active_record "$LVOL")")" || fail "final key after $point"
    [ "$(stq "'pending' in s['volumes']['$LVOL']")" = False ] || fail "pending left"
  done
  # An interrupted add is finished by the next check-in too (rotate path).
  control "{\"rotate\": [{\"volume_id\": \"$LVOL\", \"reason\": \"requested\"}]}"
  ESCROW_AGENT_TEST_CRASH=after-upload ag checkin
  expect_rc 137 "check-in killed"
  control '{}'
  ag checkin
  expect_rc 0 "check-in finishes the rotation"
  [ "$(active_slots)" = 2 ] || fail "check-in rerun slots"
  opens "$(open_record "$(active_record "$LVOL")")" || fail "check-in rerun key"
}

case "${1:?case}" in
  enroll|escrow|retry|bitlocker|filevault|escrowkey|luks|luks_crash)
    new_work "$1"
    "case_$1"
    log "ok"
    ;;
  *) echo "unknown case $1" >&2; exit 2 ;;
esac
