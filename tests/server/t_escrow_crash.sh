#!/usr/bin/env bash
# t_escrow_crash.sh - escrowd killed with SIGKILL in the middle of a load of
# 4 agents (bench-escrow, one device each) and restarted on the same port;
# the load goes on.  Then nothing acknowledged is lost (issue 15): every
# upload that got a 201 receipt is in escrow_records and in audit_log at its
# receipt's leaf index, none twice, and `escrowctl audit verify` passes.
# The small form of bench/chaos/run.sh.  Waits on the answers file (the
# acknowledgements before the kill and after the restart), never on time.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/t_auth_lib.sh"
. "$HERE/t_device_lib.sh"
. "$KE_SRC/bench/escrow/answers.sh"
: "${KE_BENCH_ESCROW:?}"
AGENTS=4
load_fixture
make_private_db
LOADPID=""
trap 'rc=$?; [ -z "$LOADPID" ] || kill "$LOADPID" 2>/dev/null; drop_private_db; (exit $rc); cleanup_test' EXIT
start_private crash ESCROWD_PER_IP_CONNECTION_LIMIT=0
PORT=$(cat "$TW/crash.port")
URL=http://127.0.0.1:$PORT
mint_user "$PRIV_APP_DSN" crash-admin admin >/dev/null
mint_user "$PRIV_APP_DSN" crash-auditor auditor >/dev/null
ADM=$(mint_token "$PRIV_APP_DSN" crash-admin)
AUD=$(mint_token "$PRIV_APP_DSN" crash-auditor)
ceremony "$TW/k"
ESCROWCTL_TOKEN=$ADM "$KE_ESCROWCTL" escrow-key publish --server "$URL" \
  --manifest "$TW/k/keys/escrow-key.json" >/dev/null 2>"$TW/err" || fail "publish: $(cat "$TW/err")"
ETOK=$(ESCROWCTL_TOKEN=$ADM "$KE_ESCROWCTL" enroll-token create --server "$URL" --group crash \
  --uses 100 --expires 1d 2>"$TW/err") || fail "enroll-token: $(cat "$TW/err")"

# Long enough for the kill, the restart and uploads after it on a loaded
# machine; the waits below fail the test if the run ends first.
"$KE_BENCH_ESCROW" -u "$URL" -k "$ETOK" -m "$TW/k/keys/escrow-key.json" -c $AGENTS -t 12 \
  -w 0 -o "$TW/answers" >"$TW/load.out" 2>"$TW/load.err" &
LOADPID=$!
answers_wait "$TW/answers" -1 $((AGENTS * 10)) 20 || fail "no load before the kill: $(cat "$TW/load.err")"

kill -KILL "$(daemon_pid crash)"
[ "$(wait_exit crash 10)" = 137 ] || fail "escrowd did not die of SIGKILL"
before=$(grep -c '^201 ' "$TW/answers")
cut=$(answers_last_leaf "$PRIV_OWN_DSN")
start_private crash2 ESCROWD_PER_IP_CONNECTION_LIMIT=0 ESCROWD_PORT="$PORT"
[ "$(cat "$TW/crash2.port")" = "$PORT" ] || fail "restarted on port $(cat "$TW/crash2.port"), not $PORT"
answers_wait "$TW/answers" "$cut" $((AGENTS * 10)) 20 ||
  fail "no upload acknowledged after the restart: $(cat "$TW/load.err")"
ok "escrowd killed after $before acknowledgements (last leaf $cut), restarted on port $PORT, load resumed"

wait "$LOADPID" || fail "bench-escrow: $(cat "$TW/load.err")"
LOADPID=""
log "$(cat "$TW/load.out")"
answers_check "$PRIV_OWN_DSN" "$TW/answers" >"$TW/check" 2>&1 || fail "acknowledged uploads: $(cat "$TW/check")"
ok "$(head -n1 "$TW/check") ($(tail -n +2 "$TW/check" | head -n1))"

http GET "$URL/v1/audit/key"
expect_status 200 "GET /v1/audit/key"
VK=$(json_get verifier_key)
mkdir -p "$TW/home"
HOME=$TW/home ESCROWCTL_TOKEN=$AUD "$KE_ESCROWCTL" audit verify --server "$URL" --log-key "$VK" \
  >"$TW/verify" 2>&1 || fail "escrowctl audit verify: $(cat "$TW/verify")"
stop_daemon crash2
ok "escrowctl audit verify passes after the crash; escrowd stops cleanly"
