#!/usr/bin/env bash
# PostgreSQL dies under a running escrowd: /readyz answers 503 JSON, nothing
# crashes; PostgreSQL comes back: /readyz answers 200 again, same process.
# Also: pg-local.sh recovers a crashed cluster (stale pid, orphans).
# Uses its own cluster, since it kills it.
. "$(dirname "$0")/lib.sh"
load_fixture

V=$TW/var
"$PGLOCAL" start --dir "$V" --fast >/dev/null 2>&1 || fail "own cluster did not start"
trap '"$PGLOCAL" stop --dir "$V" >/dev/null 2>&1; cleanup_test' EXIT
eval "$("$PGLOCAL" env --dir "$V")"
ESCROWD_CONFIG=/dev/null ESCROWD_SCHEMA_DIR="$KE_SRC/schema" "$KE_ESCROWD" migrate 2>/dev/null ||
  fail "migrate on the own cluster"
start_daemon pg "$KE_ESCROWD" -- serve
B=http://127.0.0.1:$PORT_pg
pid=$(daemon_pid pg)
DATA=$(readlink -f "$V/pg")

cluster_pids() {
  local p
  for p in /proc/[0-9]*; do
    [ "$(readlink "$p/cwd" 2>/dev/null)" = "$DATA" ] && echo "${p#/proc/}"
  done
  return 0
}

wait_readyz() {  # STATUS what
  local i
  for i in $(seq 1 100); do
    http GET "$B/readyz"
    [ "$STATUS" = "$1" ] && return 0
    sleep 0.15
  done
  fail "/readyz never answered $1 ($2); last $STATUS"
}

# Warm every worker's connection.
for i in $(seq 1 12); do http GET "$B/readyz"; expect_status 200 "warm-up"; done

phase() {  # name
  wait_readyz 503 "$1: PostgreSQL down"
  expect_error db_unavailable "$1: PostgreSQL down"
  expect_header '^Retry-After: [0-9]+' "$1: 503 with Retry-After"
  for i in 1 2 3 4 5 6; do http GET "$B/readyz"; expect_status 503 "$1: repeated"; done
  http GET "$B/healthz"
  expect_status 200 "$1: /healthz while PostgreSQL is down"
  "$PGLOCAL" start --dir "$V" --fast >"$TW/restart.log" 2>&1 || fail "$1: restart: $(cat "$TW/restart.log")"
  wait_readyz 200 "$1: PostgreSQL back"
  for i in $(seq 1 12); do http GET "$B/readyz"; expect_status 200 "$1: all workers reconnected"; done
  [ "$(daemon_pid pg)" = "$pid" ] && kill -0 "$pid" || fail "$1: escrowd restarted or died"
  ok "$1: 503 db_unavailable while down, 200 again after restart, same process"
}

# 1. Everything killed at once (power-cut style crash).
kill -KILL $(cluster_pids)
phase "SIGKILL of the whole cluster"

# 2. A clean fast shutdown.
"$PGLOCAL" stop --dir "$V" >/dev/null 2>&1
phase "fast shutdown"

# 3. Only the postmaster killed: its orphaned backends linger and the pid
#    file is stale; pg-local.sh start must clear both, not wedge.
kill -KILL "$(head -n1 "$DATA/postmaster.pid")"
phase "postmaster killed, orphans left"
grep -q 'orphaned backends\|stale' "$TW/restart.log" || log "(orphans had already exited)"

http GET "$B/metrics"
grep -Eq '^escrowd_db_errors_total\{kind="(connect|connection_lost)"\} [1-9]' "$BODYF" ||
  fail "database errors not counted"
grep -Eq '^escrowd_db_reconnects_total [1-9]' "$BODYF" || fail "reconnects not counted"
ok "database errors and reconnects are in /metrics"

stop_daemon pg
ok "stopped cleanly"
