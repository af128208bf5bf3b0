# agent_lib.sh - helpers of the escrow-agent end-to-end tests (sourced).
#
# Environment (from CTest): AGENT, ESCROWCTL, TESTTOOL (binaries), PY (a
# python3 with python3-cryptography), SRC (tests/agent source dir), WORK
# (this build's scratch dir).  Every test runs in its own $W, against the
# mock server (mock_escrowd.py) or a real escrowd (t_e2e_*.sh).
set -euo pipefail

: "${AGENT:?}" "${ESCROWCTL:?}" "${PY:?}" "${SRC:?}" "${WORK:?}"
export ESCROW_AGENT_SYSLOG=0
TOKEN=ket_$(printf 'A%.0s' $(seq 1 43))
MOCK_PID=""
T=${T:-test}
LOGS_TO_CHECK=""
. "$(dirname "${BASH_SOURCE[0]}")/agent_funcs.sh"

log() { echo "[$T] $*"; }
fail() {
  echo "[$T] FAIL: $*" >&2
  [ -f "$W/agent.err" ] && { echo "--- last agent stderr:" >&2; tail -n 25 "$W/agent.err" >&2; }
  [ -f "$W/mock.log" ] && { echo "--- mock log:" >&2; tail -n 15 "$W/mock.log" >&2; }
  exit 1
}

new_work() {  # NAME
  T=$1
  W=$WORK/$1
  rm -rf "$W"
  mkdir -p "$W"
  chmod 700 "$W"
  SD=$W/state
  : >"$W/agent.log"
  trap cleanup EXIT
}

cleanup() {
  local rc=$?
  set +e
  [ -n "$MOCK_PID" ] && kill "$MOCK_PID" 2>/dev/null && wait "$MOCK_PID" 2>/dev/null
  MOCK_PID=""
  if grep -Eq 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$W/agent.log" 2>/dev/null; then
    echo "[$T] FAIL: sanitizer report in the agent's output" >&2
    grep -E -A20 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$W/agent.log" | head -40 >&2
    rc=1
  fi
  exit $rc
}

start_mock() {
  FPR=$(ceremony "$W/key")
  echo '{}' >"$W/control.json"
  mkdir -p "$W/mock"
  "$PY" "$SRC/mock_escrowd.py" --manifest "$W/key/escrow-key.json" --token "$TOKEN" \
    --state "$W/mock" --control "$W/control.json" --port-file "$W/port" 2>"$W/mock.log" &
  MOCK_PID=$!
  for _ in $(seq 1 100); do [ -s "$W/port" ] && break; sleep 0.05; done
  [ -s "$W/port" ] || fail "the mock server did not start"
  URL=http://127.0.0.1:$(cat "$W/port")
  LOGKEY=$(mockq "d['log_key']")
  LOGS_TO_CHECK=$W/mock.log
}

control() {  # JSON
  echo "$1" >"$W/control.json"
}

enroll() {
  ag enroll --server "$URL" --token "$TOKEN" --escrow-fingerprint "$FPR" --log-key "$LOGKEY" \
    --hostname test-host
  expect_rc 0 "enrol"
  DEV=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["device_id"])' "$SD/state.json")
}

# mockq EXPR: evaluate a Python expression over the mock's records.json
# (r = records, c = check-ins, q = requests) and print it.
mockq() {
  "$PY" - "$W/mock/records.json" "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
r, c, q = d["records"], d["checkins"], d["requests"]
print(eval(sys.argv[2]))
PY
}

# open_record RECORD_ID [KEYDIR]: open a record stored by the mock.
open_record() {
  local env dev vol
  env=$(mockq "[x['envelope'] for x in r if x['record_id'] == '$1'][0]")
  dev=$(mockq "[x['device'] for x in r if x['record_id'] == '$1'][0]")
  vol=$(mockq "[x['volume'] for x in r if x['record_id'] == '$1'][0]")
  open_envelope "$env" "$dev" "$vol" "${2:-$W/key}"
}

active_record() {  # VOLUME
  mockq "[x['record_id'] for x in r if x['volume'] == '$1' and x['state'] == 'active'][0]"
}

