#!/usr/bin/env bash
# quickstart.sh - from a fresh Debian 12 machine to escrowd answering on
# http://127.0.0.1:8080 backed by a private PostgreSQL under ./var.
#
#   1. scripts/deps.sh                 Debian packages (idempotent)
#   2. cmake build in ./build          all targets
#   3. scripts/pg-local.sh start       private cluster, Unix socket only
#   4. escrowd migrate                 as the schema owner role
#   5. escrowd serve                   as the application role, background,
#                                      pid in var/escrowd.pid, log in var/log/escrowd.log
#   6. scripts/demo-offline.sh         ceremony, seal, request, 3 parts, open
#   7. scripts/demo-online.sh          the same through escrowd: admin, people,
#                                      an agent escrows, a retrieval, rotation,
#                                      coverage report, audit verify
#
# Idempotent: rerunning rebuilds, keeps the database and restarts escrowd.
# Stop everything with:  scripts/quickstart.sh stop
# Knobs (environment): KE_BUILD_DIR (default ./build), KE_QUICKSTART_ADDRESS
# (127.0.0.1), KE_QUICKSTART_PORT (8080).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
VAR=$ROOT/var
BUILD=${KE_BUILD_DIR:-$ROOT/build}   # override for side-by-side builds
ESCROWD=$BUILD/server/escrowd
PIDFILE=$VAR/escrowd.pid
LOG=$VAR/log/escrowd.log
CONF=$VAR/escrowd.conf
ADDR=${KE_QUICKSTART_ADDRESS:-127.0.0.1}
PORT=${KE_QUICKSTART_PORT:-8080}

say() { printf '==> %s\n' "$*"; }

# The pid file is trusted only if it still names an escrowd process.
running_pid() {
  local pid
  [ -f "$PIDFILE" ] || return 1
  pid=$(cat "$PIDFILE")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ "$(basename "$(readlink "/proc/$pid/exe" 2>/dev/null)")" = escrowd ] || return 1
  echo "$pid"
}

stop_escrowd() {
  local pid i
  pid=$(running_pid) || { rm -f "$PIDFILE"; return 0; }
  say "stopping escrowd (pid $pid)"
  kill -TERM "$pid"
  for i in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    echo "escrowd (pid $pid) did not stop within 10 s" >&2
    exit 1
  fi
  rm -f "$PIDFILE"
}

if [ "${1:-}" = stop ]; then
  stop_escrowd
  ./scripts/pg-local.sh stop
  exit 0
fi
[ $# -eq 0 ] || { echo "usage: $0 [stop]" >&2; exit 2; }

say "installing dependencies"
./scripts/deps.sh

say "building in $BUILD"
cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j "$(nproc 2>/dev/null || echo 2)"

say "starting the private PostgreSQL"
./scripts/pg-local.sh start
eval "$(./scripts/pg-local.sh env)"

mkdir -p "$VAR/log"
# A config file rather than a pile of variables, so that `escrowd config`
# and later commands see the same settings.
umask 077
cat >"$CONF.tmp" <<CONF
# Written by scripts/quickstart.sh; see server/escrowd.conf.sample.
listen_address = $ADDR
port = $PORT
db_dsn = $ESCROWD_DB_DSN
db_owner_dsn = $ESCROWD_DB_OWNER_DSN
schema_dir = $ROOT/schema
web_dir = $BUILD/web
audit_key_file = $VAR/audit-log.key
CONF
mv "$CONF.tmp" "$CONF"
umask 022
# Make sure nothing in the caller's environment overrides the file.
unset ESCROWD_DB_DSN ESCROWD_DB_OWNER_DSN
for v in $(env | sed -n 's/^\(ESCROWD_[A-Z_]*\)=.*/\1/p'); do unset "$v"; done

say "migrating the database"
"$ESCROWD" --config "$CONF" migrate

stop_escrowd
say "starting escrowd on http://$ADDR:$PORT"
: >>"$LOG"
# setsid: escrowd must not die with this shell or its terminal.
setsid "$ESCROWD" --config "$CONF" serve >>"$LOG" 2>&1 </dev/null &
echo $! >"$PIDFILE"

for i in $(seq 1 100); do
  code=$(curl -s -o /dev/null -w '%{http_code}' "http://$ADDR:$PORT/readyz" || true)
  [ "$code" = 200 ] && break
  if ! running_pid >/dev/null; then
    echo "escrowd exited; last log lines:" >&2
    tail -n 20 "$LOG" >&2
    exit 1
  fi
  sleep 0.1
done
if [ "$code" != 200 ]; then
  echo "escrowd did not become ready (last /readyz status $code); log: $LOG" >&2
  tail -n 20 "$LOG" >&2
  exit 1
fi

say "demo: the offline opening of one envelope (3 of 5 custodians)"
./scripts/demo-offline.sh "$BUILD"
say "demo: the same through escrowd, with an agent, the helpdesk and custodians"
KE_DEMO_ESCROWD_CONFIG=$CONF ./scripts/demo-online.sh "$BUILD" "http://$ADDR:$PORT"

cat <<EOF2

keyescrow is running.
  escrowd      http://$ADDR:$PORT   (pid $(cat "$PIDFILE"), log $LOG)
  config       $CONF
  PostgreSQL   private cluster in $VAR/pg, socket in $VAR/run

Try:
  curl -s http://$ADDR:$PORT/readyz
  curl -s http://$ADDR:$PORT/metrics | head
  $ESCROWD --config $CONF migrate --status
  $ESCROWD --config $CONF config
  scripts/pg-local.sh psql owner   # psql as the schema owner
  tail -f $LOG   # JSON log lines

Offline demo:      scripts/demo-offline.sh  (files in var/demo)
Online demo:       scripts/demo-online.sh   (logins and files in var/demo-online;
                   e.g. XDG_CONFIG_HOME=var/demo-online/cfg/auditor $BUILD/ctl/escrowctl report coverage)
Run the tests:     scripts/test.sh
Stop everything:   scripts/quickstart.sh stop
Docs:              docs/operations.md, docs/api.yaml
EOF2
