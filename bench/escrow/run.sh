#!/usr/bin/env bash
# bench/escrow/run.sh [BUILD_DIR] - escrow uploads per second at 1, 8 and 64
# concurrent agents, each as a ratio to pgbench running an equivalent
# one-row INSERT transaction, measured in one run on this machine.
#
# Both run against the same private PostgreSQL cluster, made here with the
# durable settings (fsync on, synchronous_commit on: pg-local.sh without
# --fast), so each escrow and each pgbench transaction waits for its own
# WAL flush.  The escrow side is the whole path: bench-escrow signs every
# request like escrow-agent, and escrowd verifies the request and envelope
# signatures, parses the envelope, stores nonce + record + audit event in
# one READ COMMITTED transaction under the device's row lock, learns the
# event's leaf index after commit and signs the receipt.  The pgbench side
# is one INSERT of a row of the same shape (ids, ~200-byte envelope,
# SHA-256, the same unique index) per transaction, prepared, with as many
# clients as there are agents.
#
# Knobs: BENCH_SECONDS (per run, default 10), BENCH_THREADS (escrowd
# worker threads = its PostgreSQL connections, default 16), BENCH_AGENTS
# (default "1 8 64").  Not part of CTest: timings are not tests.
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh
SRC=$PWD
bench_escrow_bins "${1:-build}"
command -v pgbench >/dev/null || { echo "run.sh: pgbench not found (postgresql-contrib)" >&2; exit 1; }
SECS=${BENCH_SECONDS:-10}
THREADS=${BENCH_THREADS:-16}
AGENTS=${BENCH_AGENTS:-"1 8 64"}

W=$(mktemp -d /tmp/keyescrow-bench-escrow.XXXXXX)
chmod 755 "$W"
PID=""
cleanup() {
  [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  "$SRC/scripts/pg-local.sh" stop --dir "$W/var" >/dev/null 2>&1 || true
  rm -rf "$W"
}
trap cleanup EXIT
"$SRC/scripts/pg-local.sh" start --dir "$W/var" >/dev/null 2>&1
eval "$("$SRC/scripts/pg-local.sh" env --dir "$W/var")"
export ESCROWD_CONFIG=/dev/null ESCROWD_SCHEMA_DIR="$SRC/schema"
"$ESCROWD" migrate >/dev/null 2>&1
psql() { command psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
DUR=$(psql "$ESCROWD_DB_DSN" -c "SELECT current_setting('fsync') || '/' ||
                                        current_setting('synchronous_commit')")
[ "$DUR" = "on/on" ] || { echo "run.sh: the cluster is not durable (fsync/synchronous_commit = $DUR)" >&2; exit 1; }

# pgbench's table: the shape of an escrow record row.
psql "$ESCROWD_DB_OWNER_DSN" <<'SQL'
CREATE TABLE bench_insert (
  id text PRIMARY KEY, device_id text NOT NULL, volume_id text NOT NULL,
  key_type text NOT NULL, key_id text NOT NULL, envelope bytea NOT NULL,
  envelope_sha256 text NOT NULL, verifier bytea NOT NULL, signature bytea NOT NULL,
  created timestamptz NOT NULL DEFAULT now(),
  UNIQUE (device_id, volume_id, envelope_sha256));
SQL
cat >"$W/insert.sql" <<'SQL'
\set n random(1, 2000000000)
INSERT INTO bench_insert (id, device_id, volume_id, key_type, key_id, envelope, envelope_sha256, verifier, signature) VALUES ('rec-' || :client_id::text || '-' || :n::text || '-' || random(), 'dev-bench-' || :client_id::text, 'v' || :n::text || '-' || random(), 'luks', 'luks-bench-' || :n::text, decode(repeat('a5', 208), 'hex'), md5(random()::text) || md5(random()::text), decode(repeat('5a', 32), 'hex'), decode(repeat('c3', 64), 'hex'));
SQL

# An admin token (made in the database, as the tests do), an escrow key,
# and an enrolment token for every agent of every run.
TOK="kea_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
HEX=$(printf '%s' "$TOK" | sha256sum | cut -c1-64)
psql "$ESCROWD_DB_DSN" >/dev/null <<SQL
INSERT INTO users (name, role, pw_salt, pw_hash, pw_n, pw_r, pw_p)
  VALUES ('bench', 'admin', decode(md5(random()::text), 'hex'), sha256(random()::text::bytea), 1024, 8, 1);
INSERT INTO auth_tokens (user_id, kind, token_hash, name, expires)
  SELECT id, 'api', '\\x$HEX', 'bench', now() + interval '1 day' FROM users WHERE name = 'bench';
SQL
for i in 1 2 3; do echo "bench passphrase quibble-zephyr-$i" >"$W/pass$i"; done
"$CTL" ceremony --threshold 2 --shares 3 --custodian a --custodian b --custodian c \
  --out "$W/keys" --passphrase-file 1="$W/pass1" --passphrase-file 2="$W/pass2" \
  --passphrase-file 3="$W/pass3" --scrypt-n 1024 >/dev/null 2>&1

: >"$W/d.log"
env ESCROWD_PORT=0 ESCROWD_THREADS="$THREADS" ESCROWD_PER_IP_CONNECTION_LIMIT=0 \
    ESCROWD_AUDIT_KEY_FILE="$W/audit.key" "$ESCROWD" serve >"$W/d.log" 2>&1 &
PID=$!
port=$(bench_port "$W/d.log" escrowd) || exit 1
URL=http://127.0.0.1:$port
export ESCROWCTL_TOKEN=$TOK
"$CTL" escrow-key publish --server "$URL" --manifest "$W/keys/escrow-key.json" >/dev/null
ETOK=$("$CTL" enroll-token create --server "$URL" --group bench --uses 100000 --expires 1d 2>/dev/null)

pgb() {  # clients -> tps
  local c=$1 j=$1
  [ "$j" -gt 4 ] && j=4
  pgbench -n -M prepared -f "$W/insert.sql" -c "$c" -j "$j" -T "$SECS" "$ESCROWD_DB_OWNER_DSN" \
    >"$W/pgbench.out" 2>"$W/pgbench.err" || true
  awk '/^tps = / { print $3; exit }' "$W/pgbench.out"
}

echo "bench/escrow: $SECS s per run, escrowd threads $THREADS, $(nproc) cores," \
     "fsync/synchronous_commit $DUR"
printf '%-8s %18s %20s %8s %10s %10s\n' agents "escrow uploads/s" "pgbench INSERT tps" ratio \
  "p50 ms" "p99 ms"
for a in $AGENTS; do
  out=$("$LOAD" -u "$URL" -k "$ETOK" -m "$W/keys/escrow-key.json" -c "$a" -t "$SECS" -w 1 \
        2>"$W/load.err") || { echo "run.sh: bench-escrow failed: $(cat "$W/load.err")" >&2; exit 1; }
  rate=$(awk '{ for (i = 1; i < NF; i++) if ($i == "rate") print $(i + 1) }' <<<"$out")
  p50=$(awk '{ for (i = 1; i < NF; i++) if ($i == "p50_ms") print $(i + 1) }' <<<"$out")
  p99=$(awk '{ for (i = 1; i < NF; i++) if ($i == "p99_ms") print $(i + 1) }' <<<"$out")
  errs=$(awk '{ for (i = 1; i < NF; i++) if ($i == "errors") print $(i + 1) }' <<<"$out")
  tps=$(pgb "$a")
  [ -n "$tps" ] || { echo "run.sh: pgbench failed: $(cat "$W/pgbench.err")" >&2; exit 1; }
  awk -v a="$a" -v r="$rate" -v t="$tps" -v p50="$p50" -v p99="$p99" -v e="$errs" 'BEGIN {
    printf "%-8d %18.1f %20.1f %8.3f %10.2f %10.2f%s\n", a, r, t, r / t, p50, p99,
           (e > 0 ? "   (" e " failed uploads)" : "") }'
done
echo "ratio = escrow uploads/s / pgbench one-row INSERT transactions/s, same cluster, same run"
