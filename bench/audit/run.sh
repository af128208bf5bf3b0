#!/usr/bin/env bash
# bench/audit/run.sh [BUILD_DIR] - append throughput of an auditing request,
# log on vs. log off, measured in one run on this machine.
#
# The request (tests/server/audit_testd, POST /test/audit) is what an
# audited action costs: one SERIALIZABLE transaction that inserts a row
# into a work table and queues its audit event, then, after commit,
# srv_audit_sequence_mine() for the event's leaf index (as a receipt
# needs).  A second log-on run leaves the index to the background
# sequencer (?index=0), as actions without a receipt do; its queue is
# drained before the daemon stops, and the count of leaves says so.  "log off" runs the very same binary and requests with the
# audit log switched off (audit_testd --log-off, which calls
# srv_audit_bench_disable()).  That switch exists only in this test
# daemon: escrowd itself has no way to turn the audit log off, and it must
# never get one.
#
# Knobs: BENCH_SECONDS (per run, default 5), BENCH_CONCURRENCY (default 8),
# BENCH_THREADS (escrowd worker threads, default 4).
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh
SRC=$PWD
BUILD=$(cd "${1:-build}" && pwd)
TESTD=$BUILD/tests/server/audit_testd
LOAD=$BUILD/bench/audit/bench-audit-load
for b in "$TESTD" "$LOAD" "$BUILD/server/escrowd"; do
  [ -x "$b" ] || { echo "run.sh: $b not found; build first (cmake --build $BUILD)" >&2; exit 1; }
done
SECS=${BENCH_SECONDS:-5}
CONC=${BENCH_CONCURRENCY:-8}
THREADS=${BENCH_THREADS:-4}

W=$(mktemp -d /tmp/keyescrow-bench-audit.XXXXXX)
chmod 755 "$W"
PID=""
cleanup() {
  [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  "$SRC/scripts/pg-local.sh" stop --dir "$W/var" >/dev/null 2>&1 || true
  rm -rf "$W"
}
trap cleanup EXIT
"$SRC/scripts/pg-local.sh" start --dir "$W/var" --fast >/dev/null 2>&1
eval "$("$SRC/scripts/pg-local.sh" env --dir "$W/var")"
ESCROWD_CONFIG=/dev/null ESCROWD_SCHEMA_DIR="$SRC/schema" "$BUILD/server/escrowd" migrate >/dev/null 2>&1
psql -X -q -v ON_ERROR_STOP=1 "$ESCROWD_DB_OWNER_DSN" <<'SQL'
CREATE TABLE bench_work (id bigserial PRIMARY KEY, object text NOT NULL,
                         created timestamptz NOT NULL DEFAULT now());
GRANT INSERT ON bench_work TO keyescrow_app;
GRANT USAGE ON SEQUENCE bench_work_id_seq TO keyescrow_app;
SQL

run() {  # label query [--log-off]
  local label=$1 query=$2 port=""
  shift 2
  : >"$W/d.log"
  env ESCROWD_CONFIG=/dev/null ESCROWD_PORT=0 ESCROWD_SCHEMA_DIR="$SRC/schema" \
      ESCROWD_THREADS="$THREADS" ESCROWD_AUDIT_KEY_FILE="$W/audit.key" \
      ESCROWD_LOG_LEVEL=info "$TESTD" --work "$@" >"$W/d.log" 2>&1 &
  PID=$!
  port=$(bench_port "$W/d.log" audit_testd) || exit 1
  # A short warm-up (connections, plans), then the measurement.
  "$LOAD" -u "http://127.0.0.1:$port/test/audit$query" -c "$CONC" -t 1 >/dev/null
  "$LOAD" -u "http://127.0.0.1:$port/test/audit$query" -c "$CONC" -t "$SECS" >"$W/$label.out"
  kill -TERM "$PID"
  wait "$PID" || true
  PID=""
  echo "$label: $(cat "$W/$label.out")"
}

echo "bench/audit: $CONC concurrent clients, $SECS s per run, $THREADS server threads, $(nproc) cores"
run log_off "" --log-off
run log_on_receipt ""
run log_on_queued "?index=0"
rate() { awk '{ for (i = 1; i < NF; i++) if ($i == "rate") print $(i + 1) }' "$W/$1.out"; }
OFF=$(rate log_off)
ON=$(rate log_on_receipt)
QUEUED=$(rate log_on_queued)
N=$(psql -X -At "$ESCROWD_DB_DSN" -c "SELECT size FROM audit_head")
Q=$(psql -X -At "$ESCROWD_DB_DSN" -c "SELECT count(*) FROM audit_queue")
M=$(psql -X -At "$ESCROWD_DB_DSN" -c "SELECT count(DISTINCT created) FROM audit_log")
awk -v on="$ON" -v q="$QUEUED" -v off="$OFF" -v n="$N" -v m="$M" -v left="$Q" 'BEGIN {
  printf "%d leaves appended in %d sequencer batches (%.1f per batch), %d left queued\n", n, m, n / m, left
  printf "audited requests/s, log on and waiting for the leaf index (receipts): %.1f = %.2f x log off (%.1f)\n", on, on / off, off
  printf "audited requests/s, log on, index given in the background:           %.1f = %.2f x log off\n", q, q / off }'
