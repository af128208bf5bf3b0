# agent_funcs.sh - helpers shared by the agent tests against the mock
# (agent_lib.sh) and against a real escrowd (t_e2e.sh).  Needs $AGENT,
# $ESCROWCTL, $PY, $W (work dir), $SD (agent state dir), and a fail().

# ceremony DIR: a 2-of-3 escrow key (cheap scrypt); prints the fingerprint.
ceremony() {
  local d=$1
  mkdir -p "$d.pass"
  for i in 1 2 3; do echo "custodian $i passphrase quibble-zephyr-$i" >"$d.pass/$i"; done
  "$ESCROWCTL" ceremony --threshold 2 --shares 3 --custodian alice --custodian bob \
    --custodian carol --out "$d" --scrypt-n 1024 --passphrase-file 1="$d.pass/1" \
    --passphrase-file 2="$d.pass/2" --passphrase-file 3="$d.pass/3" 2>/dev/null
}

# ag ARGS...: run the agent on this test's state dir with quick retries;
# stderr goes to $W/agent.err (and is collected in $W/agent.log).  Sets RC.
ag() {
  set +e
  # A crash point needs the test build (the installed agent has no hook).
  local bin=$AGENT
  [ -n "${ESCROW_AGENT_TEST_CRASH:-}" ] && bin=${AGENT_HOOKS:?AGENT_HOOKS not set}
  "$bin" "$@" --state-dir "$SD" --retry-delay-ms 20 --retry-max-delay-ms 100 \
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

# The agent's output never contains a secret: call with every secret used.
expect_no_secret_in_logs() {
  local s
  for s in "$@"; do
    if grep -qF -- "$s" "$W/agent.log" ${LOGS_TO_CHECK:-} 2>/dev/null; then
      fail "a secret appears in the logs"
    fi
  done
}
