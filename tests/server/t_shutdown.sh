#!/usr/bin/env bash
# SIGTERM: escrowd stops accepting at once, lets the request in flight
# finish, then exits 0.  The in-flight request is held inside PostgreSQL by
# freezing the (own) cluster with SIGSTOP.
. "$(dirname "$0")/lib.sh"
load_fixture

V=$TW/var
"$PGLOCAL" start --dir "$V" --fast >/dev/null 2>&1 || fail "own cluster did not start"
DATA=$(readlink -f "$V/pg")
cluster_pids() {
  local p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/cwd" 2>/dev/null)" = "$DATA" ] && echo "${p#/proc/}"
  done
  return 0
}
trap 'kill -CONT $(cluster_pids) 2>/dev/null; "$PGLOCAL" stop --dir "$V" >/dev/null 2>&1; cleanup_test' EXIT
eval "$("$PGLOCAL" env --dir "$V")"
ESCROWD_CONFIG=/dev/null ESCROWD_SCHEMA_DIR="$KE_SRC/schema" "$KE_ESCROWD" migrate 2>/dev/null ||
  fail "migrate on the own cluster"

# Two workers: the frozen request blocks one, the other answers /metrics.
start_daemon sd "$KE_ESCROWD" ESCROWD_THREADS=2 ESCROWD_SHUTDOWN_TIMEOUT=30 -- serve
B=http://127.0.0.1:$PORT_sd
http GET "$B/readyz"
expect_status 200 "before"

frozen=$(cluster_pids)
kill -STOP $frozen
curl -sS --max-time 30 -o "$TW/inflight.body" -w '%{http_code}' "$B/readyz" >"$TW/inflight.status" 2>&1 &
cpid=$!
# Wait until escrowd holds it (in flight: it and the /metrics request).
for i in $(seq 1 200); do
  http GET "$B/metrics"
  grep -Eq '^escrowd_http_requests_in_flight [2-9]' "$BODYF" && break
  sleep 0.05
done
grep -Eq '^escrowd_http_requests_in_flight [2-9]' "$BODYF" || fail "the request never got in flight"
kill -TERM "$(daemon_pid sd)"
# Wait for the signal to be taken (the log line), not for a guessed time.
for i in $(seq 1 600); do
  grep -q '"msg":"shutting down' "$TW/sd.log" && break
  sleep 0.05
done
grep -q '"msg":"shutting down' "$TW/sd.log" || fail "no shutdown log line"
[ ! -f "$TW/sd.rc" ] || fail "escrowd exited with a request in flight (status $(cat "$TW/sd.rc"))"
http GET "$B/healthz"
[ "$STATUS" = 000 ] || fail "new connection accepted after SIGTERM (HTTP $STATUS)"
ok "after SIGTERM: new connections refused, escrowd waits for the request in flight"

kill -CONT $frozen
wait $cpid || true
[ "$(cat "$TW/inflight.status")" = 200 ] || fail "in-flight request got $(cat "$TW/inflight.status")"
rc=$(wait_exit sd 20)
[ "$rc" = 0 ] || fail "exit status $rc"
check_log_clean "$TW/sd.log"
ok "the in-flight request completed with 200, then escrowd exited 0"
