#!/usr/bin/env bash
# t_e2e.sh CASE - escrow-agent end to end against a real escrowd and
# PostgreSQL: the server suite's fixture cluster, a private database and
# escrowd of this test (tests/server/lib.sh, t_auth_lib.sh).
#
#   escrow     enrol; escrow with stdin; the stored verifier is v2 (scrypt
#              N >= 2^17, r 8, p 1, its own salt) and recomputes from the
#              secret by the documented construction (Python); the same
#              envelope again is one record; a new secret makes two, the
#              old superseded; pg_dump
#              and the server log hold no secret; the stored envelope opens
#              offline (escrowctl request new / part / open); an agent
#              cannot read envelopes or write another device; unsigned and
#              replayed requests change nothing
#   luks       luks add on a LUKS2 image, the escrowed passphrase opens it,
#              check-in keyslot check, rotate leaves one recovery keyslot
#              and escrows it, a kill between upload and keyslot removal
#              converges on the rerun
#   keychange  a new escrow key is announced: refused until pinned, then
#              BitLocker (fake manage-bde) is re-escrowed under it
#
# Environment: KE_ESCROWD KE_SRC KE_FIXTURE (server suite), AGENT ESCROWCTL
# TESTTOOL PY SRC WORK (agent suite).
set -euo pipefail
CASE=${1:?case}
. "$KE_SRC/tests/server/lib.sh"
. "$KE_SRC/tests/server/t_auth_lib.sh"
TEST_NAME=agent-e2e-$CASE
. "$SRC/agent_funcs.sh"
# The server suite's fail(), plus the agent's last words.
eval "srv_$(declare -f fail)"
fail() {
  [ -f "$W/agent.err" ] && { echo "--- last agent stderr:" >&2; tail -n 25 "$W/agent.err" >&2; }
  srv_fail "$@"
}
export ESCROW_AGENT_SYSLOG=0

load_fixture
make_private_db
start_private main
URL=http://127.0.0.1:$PORT_main
W=$TW
SD=$W/state-a
: >"$W/agent.log"
LOGS_TO_CHECK=$W/main.log
export HOME=$W ESCROWCTL_SERVER=$URL
mint_user "$PRIV_APP_DSN" admin1 admin
ESCROWCTL_TOKEN=$(mint_token "$PRIV_APP_DSN" admin1)
export ESCROWCTL_TOKEN
FPR=$(ceremony "$W/key")
"$ESCROWCTL" escrow-key publish --manifest "$W/key/escrow-key.json" --fingerprint "$FPR" \
  >/dev/null 2>"$W/ctl.err" || fail "escrow-key publish: $(cat "$W/ctl.err")"
http GET "$URL/v1/audit/key"
LOGKEY=$(json_get verifier_key)
ENROLL=$("$ESCROWCTL" enroll-token create --group lab --uses 5 --expires 1h 2>"$W/ctl.err") ||
  fail "enroll-token create: $(cat "$W/ctl.err")"

sql() { app_psql "$PRIV_APP_DSN" -c "$1"; }

enroll_as() {  # STATE_DIR HOSTNAME -> DEV
  SD=$1
  ag enroll --server "$URL" --token "$ENROLL" --escrow-fingerprint "$FPR" --log-key "$LOGKEY" \
    --hostname "$2"
  expect_rc 0 "enrol $2"
  DEV=$(stq "s['device_id']")
}

# The envelope of a record, base64url as escrowctl reads it.
record_env() {
  sql "SELECT encode(envelope, 'base64') FROM escrow_records WHERE id = '$1'" |
    tr -d '\n=' | tr '+/' '-_'
}
active() {  # DEVICE VOLUME
  sql "SELECT id FROM escrow_records WHERE device_id = '$1' AND volume_id = '$2' AND state = 'active'"
}
open_rec() {  # RECORD [KEYDIR]
  local dev vol
  dev=$(sql "SELECT device_id FROM escrow_records WHERE id = '$1'")
  vol=$(sql "SELECT volume_id FROM escrow_records WHERE id = '$1'")
  open_envelope "$(record_env "$1")" "$dev" "$vol" "${2:-$W/key}"
}

# signed METHOD TARGET STATE_DIR DEVICE [BODY_FILE]: curl args of a request
# signed with the key in STATE_DIR as DEVICE, into the array HDRS.
signed() {
  local line
  HDRS=()
  while IFS= read -r line; do HDRS+=(-H "$line"); done < <("$TESTTOOL" sign "$3" "$4" "$1" "$2" ${5:+"$5"})
}

case_escrow() {
  local s1=e2e-first-secret-Qv7-horse-battery s2=e2e-second-secret-Zt4-staple-river
  enroll_as "$W/state-b" host-b
  local devb=$DEV sdb=$SD
  enroll_as "$W/state-a" host-a
  local deva=$DEV
  [ "$(sql "SELECT hostname FROM devices WHERE id = '$deva'")" = host-a ] || fail "device row"
  agin "$s1" escrow --provider stdin --volume vol1
  expect_rc 0 "escrow s1"
  # A typed secret's verifier costs one scrypt N >= 2^17 per guess: check
  # the stored bytes, and recompute them independently from the secret.
  local v1hex; v1hex=$(sql "SELECT encode(verifier, 'hex') FROM escrow_records WHERE device_id = '$deva' AND volume_id = 'vol1'")
  "$PY" - "$v1hex" "$s1" "$deva" vol1 <<'PY' || fail "the stored verifier of a stdin secret is not a valid v2"
import hashlib, sys
v, secret, dev, vol = bytes.fromhex(sys.argv[1]), sys.argv[2].encode(), sys.argv[3], sys.argv[4]
assert len(v) == 54 and v[:3] == b"KV\x02", v.hex()
log2n, r, p, salt = v[3], v[4], v[5], v[6:22]
assert log2n >= 17 and (log2n, r, p) == (17, 8, 1), (log2n, r, p)
s = b"keyescrow-v1-scrypt-verifier" + salt + dev.encode() + b"\x00" + vol.encode()
assert hashlib.scrypt(secret, salt=s, n=1 << log2n, r=r, p=p, dklen=32, maxmem=2**31 - 1) == v[22:]
PY
  [ "$(stq "s['volumes']['vol1']['verifier']")" = "$("$PY" -c "import base64,sys; print(base64.urlsafe_b64encode(bytes.fromhex(sys.argv[1])).decode().rstrip('='))" "$v1hex")" ] ||
    fail "the agent's state holds another verifier than the server"
  agin "$s1" escrow --provider stdin --volume vol1
  expect_rc 0 "the same envelope again"
  expect_err "already stored"
  [ "$(sql "SELECT count(*) FROM escrow_records WHERE device_id = '$deva' AND volume_id = 'vol1'")" = 1 ] ||
    fail "the same envelope made a second record"
  local r1; r1=$(active "$deva" vol1)
  agin "$s2" escrow --provider stdin --volume vol1
  expect_rc 0 "escrow s2"
  [ "$(sql "SELECT count(*) FROM escrow_records WHERE device_id = '$deva' AND volume_id = 'vol1'")" = 2 ] ||
    fail "not two records"
  [ "$(sql "SELECT state FROM escrow_records WHERE id = '$r1'")" = superseded ] || fail "old not superseded"
  local r2; r2=$(active "$deva" vol1)
  [ "$r2" != "$r1" ] || fail "no new active record"
  # Each record has its own salt: no guess serves two records.
  [ "$(sql "SELECT count(DISTINCT substring(verifier FROM 7 FOR 16)) || ' ' || min(length(verifier)) FROM escrow_records WHERE id IN ('$r1', '$r2')")" = "2 54" ] ||
    fail "the two v2 verifiers share a salt"
  [ "$(stq "s['volumes']['vol1']['record_id']")" = "$r2" ] || fail "agent state"
  # Offline opening of what the server stored.
  [ "$(open_rec "$r2")" = "$s2" ] || fail "the stored envelope does not open to s2"
  [ "$(open_rec "$r1")" = "$s1" ] || fail "the superseded envelope does not open to s1"
  # Neither the database nor the server's log holds a secret.
  "/usr/lib/postgresql/15/bin/pg_dump" "$PRIV_OWN_DSN" >"$W/dump.sql" 2>"$W/dump.err" ||
    fail "pg_dump: $(cat "$W/dump.err")"
  grep -q "$r2" "$W/dump.sql" || fail "the dump does not have the records"
  LOGS_TO_CHECK="$W/main.log $W/dump.sql"
  expect_no_secret_in_logs "$s1" "$s2"
  ag checkin
  expect_rc 0 "check-in"
  [ "$(sql "SELECT last_unlock_check FROM escrow_records WHERE id = '$r2'")" = unsupported ] ||
    fail "check-in not recorded"
  ag status
  expect_rc 0 "status"
  # An agent never reads an envelope; device B cannot write A's volume.
  local n; n=$(sql "SELECT count(*) FROM escrow_records")
  signed GET "/v1/devices/$deva" "$W/state-a" "$deva"
  http GET "$URL/v1/devices/$deva" "${HDRS[@]}"
  [ "$STATUS" = 403 ] || [ "$STATUS" = 401 ] || fail "an agent read its device record ($STATUS)"
  grep -q '"envelope"' "$BODYF" && fail "an envelope was returned"
  printf '%s\n' "$s1" | "$ESCROWCTL" seal --manifest "$W/key/escrow-key.json" --fingerprint "$FPR" \
    --device "$deva" --volume vol9 --out "$W/env9" 2>/dev/null || fail "seal"
  "$TESTTOOL" put-body "$sdb" "$deva" vol9 "$W/env9" >"$W/put9-b.json"
  signed PUT "/v1/devices/$deva/keys/vol9" "$sdb" "$devb" "$W/put9-b.json"
  http PUT "$URL/v1/devices/$deva/keys/vol9" "${HDRS[@]}" -H 'Content-Type: application/json' \
    --data-binary @"$W/put9-b.json"
  expect_status 403 "device B writing A's volume"
  signed PUT "/v1/devices/$deva/keys/vol9" "$sdb" "$deva" "$W/put9-b.json"
  http PUT "$URL/v1/devices/$deva/keys/vol9" "${HDRS[@]}" -H 'Content-Type: application/json' \
    --data-binary @"$W/put9-b.json"
  expect_status 401 "B's key claiming to be A"
  # Unsigned: refused, nothing stored.
  "$TESTTOOL" put-body "$W/state-a" "$deva" vol9 "$W/env9" >"$W/put9.json"
  http PUT "$URL/v1/devices/$deva/keys/vol9" -H 'Content-Type: application/json' \
    --data-binary @"$W/put9.json"
  expect_status 401 "an unsigned PUT"
  [ "$(sql "SELECT count(*) FROM escrow_records")" = "$n" ] || fail "a refused request stored something"
  # Replayed: the first is stored, the identical second changes nothing.
  signed PUT "/v1/devices/$deva/keys/vol9" "$W/state-a" "$deva" "$W/put9.json"
  http PUT "$URL/v1/devices/$deva/keys/vol9" "${HDRS[@]}" -H 'Content-Type: application/json' \
    --data-binary @"$W/put9.json"
  expect_status 201 "the signed PUT"
  http PUT "$URL/v1/devices/$deva/keys/vol9" "${HDRS[@]}" -H 'Content-Type: application/json' \
    --data-binary @"$W/put9.json"
  expect_status 409 "the replayed PUT"
  expect_error replayed_request "replay"
  [ "$(sql "SELECT count(*) FROM escrow_records")" = $((n + 1)) ] || fail "the replay changed the records"
  printf '{"agent_version":"0.1.0","volumes":[]}' >"$W/ci.json"
  signed POST "/v1/devices/$deva/checkin" "$W/state-a" "$deva" "$W/ci.json"
  http POST "$URL/v1/devices/$deva/checkin" "${HDRS[@]}" -H 'Content-Type: application/json' \
    --data-binary @"$W/ci.json"
  expect_status 200 "a signed check-in"
  local t1; t1=$(sql "SELECT last_checkin FROM devices WHERE id = '$deva'")
  sleep 1.1
  http POST "$URL/v1/devices/$deva/checkin" "${HDRS[@]}" -H 'Content-Type: application/json' \
    --data-binary @"$W/ci.json"
  expect_status 409 "a replayed check-in"
  [ "$(sql "SELECT last_checkin FROM devices WHERE id = '$deva'")" = "$t1" ] ||
    fail "the replayed check-in changed the device"
  expect_no_secret_in_logs "$s1" "$s2"
}

luks_image() {
  truncate -s 20M "$W/disk.img"
  printf '%s' "$(head -c 48 /dev/urandom | base64 -w0)" >"$W/unlock.key"
  cryptsetup luksFormat --batch-mode --type luks2 --pbkdf pbkdf2 --pbkdf-force-iterations 1000 \
    --key-file "$W/unlock.key" "$W/disk.img" >/dev/null
  LVOL=luks-$(cryptsetup luksUUID "$W/disk.img")
}
slots() {
  cryptsetup luksDump "$W/disk.img" | sed -n '/^Keyslots:/,/^Tokens:/p' | grep -cE '^  [0-9]+: luks2'
}
opens() { printf '%s' "$1" | cryptsetup open --test-passphrase --key-file - "$W/disk.img" 2>/dev/null; }

case_luks() {
  enroll_as "$W/state-a" host-luks
  luks_image
  ag luks add --device "$W/disk.img" --unlock-keyfile "$W/unlock.key"
  expect_rc 0 "luks add"
  local r1 p1; r1=$(active "$DEV" "$LVOL"); p1=$(open_rec "$r1")
  opens "$p1" || fail "the escrowed passphrase does not open the image"
  [ "$(slots)" = 2 ] || fail "slots after add"
  ag checkin
  expect_rc 0 "check-in"
  [ "$(sql "SELECT last_verifier_match || ' ' || last_unlock_check FROM escrow_records WHERE id = '$r1'")" = "true ok" ] ||
    fail "keyslot check not recorded"
  ag luks rotate --device "$W/disk.img"
  expect_rc 0 "rotate"
  local r2 p2; r2=$(active "$DEV" "$LVOL"); p2=$(open_rec "$r2")
  [ "$(slots)" = 2 ] || fail "rotate did not leave exactly one recovery keyslot"
  opens "$p2" && ! opens "$p1" || fail "rotation"
  local n; n=$(sql "SELECT count(*) FROM escrow_records")
  ESCROW_AGENT_TEST_CRASH=after-upload ag luks rotate --device "$W/disk.img"
  expect_rc 137 "killed between the upload and the keyslot removal"
  opens "$(open_rec "$(active "$DEV" "$LVOL")")" || fail "no escrowed working key after the kill"
  [ "$(slots)" = 3 ] || fail "expected old and new recovery slot after the kill"
  ag luks rotate --device "$W/disk.img"
  expect_rc 0 "rerun"
  [ "$(slots)" = 2 ] || fail "did not converge to one recovery keyslot"
  [ "$(sql "SELECT count(*) FROM escrow_records")" = $((n + 1)) ] || fail "the rerun made a second record"
  local p3 r3; r3=$(active "$DEV" "$LVOL"); p3=$(open_rec "$r3")
  opens "$p3" && ! opens "$p2" || fail "final key"
  ag status
  expect_rc 0 "status"
  # The key was disclosed (as a retrieval marks it): the check-in rotates.
  sql "UPDATE escrow_records SET state = 'disclosed' WHERE id = '$r3'" >/dev/null
  ag checkin
  expect_rc 0 "check-in rotation of a disclosed key"
  expect_err "the server asks for rotation \(disclosed\)"
  local r4 p4; r4=$(active "$DEV" "$LVOL"); p4=$(open_rec "$r4")
  [ -n "$r4" ] && [ "$r4" != "$r3" ] || fail "no new record after the disclosure"
  [ "$(slots)" = 2 ] && opens "$p4" && ! opens "$p3" || fail "the disclosed key was not rotated"
  ag checkin
  expect_rc 0 "check-in after the rotation"
  expect_no_secret_in_logs "$p1" "$p2" "$p3" "$p4"
}

case_keychange() {
  enroll_as "$W/state-a" host-bde
  export FAKE_BDE_STATE=$W/bde.json FAKE_BDE_LANG=fr
  local pw=541772-440143-582263-513117-171534-587862-296956-456676
  echo "[{\"id\": \"{0B4C6C0E-6F5A-4B55-9E3A-1D2C3B4A5F60}\", \"password\": \"$pw\"}]" >"$W/bde.json"
  ag escrow --provider bitlocker --volume C: --manage-bde "$SRC/fake_manage_bde.py"
  expect_rc 0 "escrow C:"
  [ "$(open_rec "$(active "$DEV" C:)")" = "$pw" ] || fail "C: does not open"
  [ "$(sql "SELECT key_id FROM escrow_records WHERE id = '$(active "$DEV" C:)'")" = "{0B4C6C0E-6F5A-4B55-9E3A-1D2C3B4A5F60}" ] ||
    fail "key id"
  agin "keychange-stdin-secret-Jq8-river" escrow --provider stdin --volume s1
  expect_rc 0 "escrow s1"
  local fpr2; fpr2=$(ceremony "$W/key2")
  "$ESCROWCTL" escrow-key publish --manifest "$W/key2/escrow-key.json" --fingerprint "$fpr2" \
    >/dev/null 2>"$W/ctl.err" || fail "publish key2: $(cat "$W/ctl.err")"
  ag checkin
  expect_rc 6 "an unpinned escrow key"
  expect_err "announces escrow key $fpr2, which is NOT pinned"
  ag checkin
  expect_rc 6 "still unpinned"
  [ "$(sql "SELECT escrow_key_status FROM devices WHERE id = '$DEV'")" = unpinned ] ||
    fail "unpinned not reported to the server"
  ag pin --escrow-fingerprint "$fpr2"
  expect_rc 0 "pin"
  ag checkin
  expect_rc 6 "the stdin volume needs an operator"
  [ "$(sql "SELECT escrow_fingerprint FROM escrow_records WHERE id = '$(active "$DEV" C:)'")" = "$fpr2" ] ||
    fail "C: not re-escrowed under the new key"
  [ "$(open_rec "$(active "$DEV" C:)" "$W/key2")" = "$pw" ] || fail "the new envelope does not open"
  agin "keychange-stdin-secret-Jq8-river" escrow --provider stdin --volume s1
  expect_rc 0 "operator re-escrows s1"
  ag checkin
  expect_rc 0 "everything under the new key"
  ag status
  expect_rc 0 "status"
}

"case_$CASE"
# escrowd must stop cleanly and sanitizer-clean after all of that.
stop_daemon main
if grep -Eq 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$W/agent.log"; then
  fail "sanitizer report in the agent's output"
fi
ok "agent end to end: $CASE"
