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

# ceremony DIR: a 2-of-3 escrow key (cheap scrypt); prints the fingerprint.
ceremony() {
  local d=$1
  mkdir -p "$d.pass"
  for i in 1 2 3; do echo "custodian passphrase $i" >"$d.pass/$i"; done
  "$ESCROWCTL" ceremony --threshold 2 --shares 3 --custodian alice --custodian bob \
    --custodian carol --out "$d" --scrypt-n 1024 --passphrase-file 1="$d.pass/1" \
    --passphrase-file 2="$d.pass/2" --passphrase-file 3="$d.pass/3" 2>/dev/null
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
}

control() {  # JSON
  echo "$1" >"$W/control.json"
}

# ag ARGS...: run the agent on this test's state dir with quick retries;
# stderr goes to $W/agent.err (and is collected in $W/agent.log).  Sets RC.
ag() {
  set +e
  "$AGENT" "$@" --state-dir "$SD" --retry-delay-ms 20 --retry-max-delay-ms 100 \
    >"$W/agent.out" 2>"$W/agent.err"
  RC=$?
  set -e
  cat "$W/agent.err" >>"$W/agent.log"
}

# agin SECRET ARGS...: ag with SECRET (exactly these bytes) on stdin.
agin() {
  printf '%s' "$1" >"$W/stdin"
  shift
  ag "$@" <"$W/stdin"
  rm -f "$W/stdin"
}

expect_rc() {  # N what
  [ "$RC" = "$1" ] || fail "expected exit status $1, got $RC ($2)"
}

expect_err() {  # REGEX what
  grep -Eq "$1" "$W/agent.err" || fail "stderr lacks /$1/ ($2)"
}

enroll() {
  ag enroll --server "$URL" --token "$TOKEN" --escrow-fingerprint "$FPR" --hostname test-host
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

# stq EXPR: the same over the agent's state.json (s).
stq() {
  "$PY" - "$SD/state.json" "$1" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print(eval(sys.argv[2]))
PY
}

# open_envelope ENVELOPE_B64 DEVICE VOLUME [KEYDIR]: the offline opening
# (escrowctl request new / part x2 / open); prints the secret.
open_envelope() {
  local env=$1 dev=$2 vol=$3 kd=${4:-$W/key} o
  o=$(mktemp -d "$W/open.XXXXXX")
  printf '%s\n' "$env" >"$o/env"
  "$ESCROWCTL" request new --manifest "$kd/escrow-key.json" --envelope "$o/env" --device "$dev" \
    --volume "$vol" --id req-1 --out "$o/req" --key-out "$o/key" >/dev/null 2>&1 ||
    fail "escrowctl request new"
  for i in 1 3; do
    "$ESCROWCTL" part --request "$o/req" --manifest "$kd/escrow-key.json" \
      --share "$kd/custodian-$i.share.json" --passphrase-file "$kd.pass/$i" --yes \
      --out "$o/part$i" >/dev/null 2>&1 || fail "escrowctl part $i"
  done
  "$ESCROWCTL" open --request "$o/req" --key "$o/key" --manifest "$kd/escrow-key.json" \
    "$o/part1" "$o/part3" 2>/dev/null || fail "escrowctl open"
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

# The agent's output never contains a secret: call with every secret used.
expect_no_secret_in_logs() {
  local s
  for s in "$@"; do
    if grep -qF -- "$s" "$W/agent.log" "$W/mock.log" 2>/dev/null; then
      fail "a secret appears in the logs"
    fi
  done
}
