#!/usr/bin/env bash
# bench/reports/run.sh [BUILD_DIR] - the full coverage report at fleet size,
# as a ratio to a plain `SELECT count(*)` over the escrow records, both
# measured in one run on the same private cluster.
#
# It makes a private PostgreSQL cluster (scripts/pg-local.sh), migrates it,
# and generates BENCH_DEVICES devices (default 100,000) with 3 records each
# in set-based INSERT ... SELECT generate_series statements: per device two
# current volumes and one superseded record, a mix of key types, verifier
# and unlock observations, old and current escrow keys, a few disclosed
# records and check-ins spread over 60 days.  Then, BENCH_RUNS times
# (default 5), after one warm-up of each:
#   report: GET /v1/reports/coverage (JSON, every device's row) from a real
#           escrowd, timed by curl from request to the last byte;
#   count:  SELECT count(*) FROM escrow_records, timed by psql's \timing.
# It prints both medians and their ratio (target: at most 20).  The report
# is one set-based SQL pass plus the text output; a query per device would
# be orders of magnitude off.  Not part of CTest: timings are not tests.
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh
SRC=$PWD
BUILD=$(cd "${1:-build}" && pwd)
ESCROWD=$BUILD/server/escrowd
[ -x "$ESCROWD" ] || { echo "run.sh: $ESCROWD not found; build first" >&2; exit 1; }
command -v curl >/dev/null || { echo "run.sh: curl not found" >&2; exit 1; }
N=${BENCH_DEVICES:-100000}
RUNS=${BENCH_RUNS:-5}

W=$(mktemp -d /tmp/keyescrow-bench-reports.XXXXXX)
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

# An auditor's API token, made in the database as the tests do.
TOK="kea_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
HEX=$(printf '%s' "$TOK" | sha256sum | cut -c1-64)
t0=$(date +%s.%N)
psql "$ESCROWD_DB_OWNER_DSN" >/dev/null <<SQL
INSERT INTO users (name, role, pw_salt, pw_hash, pw_n, pw_r, pw_p)
  VALUES ('bench', 'auditor', decode(md5(random()::text), 'hex'), sha256(random()::text::bytea), 1024, 8, 1);
INSERT INTO auth_tokens (user_id, kind, token_hash, name, expires)
  SELECT id, 'api', '\\x$HEX', 'bench', now() + interval '1 day' FROM users WHERE name = 'bench';
-- Two escrow keys: records sealed to the old (accepted) one are "old".
INSERT INTO escrow_keys (fingerprint, manifest, threshold, shares, state, created_by) VALUES
  (repeat('a', 64), '{}', 3, 5, 'accepted', 'bench'),
  (repeat('b', 64), '{}', 3, 5, 'current', 'bench');
INSERT INTO enrollment_tokens (token_hash, group_name, uses_max, uses_left, expires, created_by)
  VALUES (sha256('bench'::bytea), 'laptops', 1000000, 0, now() + interval '1 day', 'bench');
-- ids: "dev-"/"rec-" + 26 characters of [a-j] (digits mapped to letters).
CREATE FUNCTION pg_temp.bid(p text, i bigint) RETURNS text LANGUAGE sql IMMUTABLE AS
  \$\$ SELECT p || translate(lpad(i::text, 26, '0'), '0123456789', 'abcdefghij') \$\$;
INSERT INTO devices (id, public_key, hostname, serial, os, group_name, enrollment_token,
                     enrolled, last_checkin)
  SELECT pg_temp.bid('dev-', i), sha256(('bench-device-' || i)::bytea), 'host-' || i,
         'SER' || i, (ARRAY['windows 11', 'macos 14', 'debian 12'])[1 + i % 3],
         (ARRAY['laptops', 'servers', 'lab'])[1 + i % 3],
         (SELECT id FROM enrollment_tokens), now() - interval '90 days',
         CASE WHEN i % 50 = 0 THEN NULL
              ELSE now() - make_interval(hours => (i * 7919 % 1440)::int) END
  FROM generate_series(1, $N) AS i;
-- Per device: volumes v1 and v2 current, v0 an old superseded record.
INSERT INTO escrow_records (id, device_id, volume_id, key_type, key_id, envelope,
                            envelope_sha256, escrow_fingerprint, verifier, agent_signature,
                            state, superseded_at, leaf_index, last_verifier_match,
                            last_verifier_at, last_unlock_check, last_unlock_at)
  SELECT pg_temp.bid('rec-', i * 3 + j), pg_temp.bid('dev-', i), 'v' || j,
         (ARRAY['bitlocker', 'filevault', 'luks', 'other'])[1 + (i + j) % 4],
         'key-' || i || '-' || j, decode(repeat('a5', 200), 'hex'),
         encode(sha256(('env-' || i || '-' || j)::bytea), 'hex'),
         CASE WHEN i % 10 = 0 THEN repeat('a', 64) ELSE repeat('b', 64) END,
         sha256(('ver-' || i)::bytea), decode(repeat('c3', 64), 'hex'),
         CASE WHEN j = 0 THEN 'superseded' WHEN i % 97 = 0 THEN 'disclosed' ELSE 'active' END,
         CASE WHEN j = 0 THEN now() - interval '30 days' END, i * 3 + j,
         CASE WHEN i % 13 = 0 THEN NULL ELSE i % 101 <> 0 END,
         CASE WHEN i % 13 = 0 THEN NULL ELSE now() - interval '1 day' END,
         (ARRAY['ok', 'failed', 'unsupported', NULL])[1 + i % 4],
         now() - interval '1 day'
  FROM generate_series(1, $N) AS i, generate_series(0, 2) AS j;
VACUUM ANALYZE devices;
VACUUM ANALYZE escrow_records;
SQL
t1=$(date +%s.%N)

: >"$W/d.log"
env ESCROWD_PORT=0 ESCROWD_AUDIT_KEY_FILE="$W/audit.key" "$ESCROWD" serve >"$W/d.log" 2>&1 &
PID=$!
port=$(bench_port "$W/d.log" escrowd) || exit 1
URL="http://127.0.0.1:$port/v1/reports/coverage"

report_s() {  # seconds for one full JSON report
  curl -sS -o "$W/report.json" -w '%{http_code} %{time_total}\n' \
    -H "Authorization: Bearer $TOK" "$URL" >"$W/curl.out"
  read -r code secs <"$W/curl.out"
  [ "$code" = 200 ] || { echo "run.sh: report answered $code: $(head -c 300 "$W/report.json")" >&2; exit 1; }
  echo "$secs"
}
count_s() {  # seconds for SELECT count(*), by psql's \timing (milliseconds)
  command psql -X -q -v ON_ERROR_STOP=1 "$ESCROWD_DB_DSN" \
    -c '\timing on' -c 'SELECT count(*) FROM escrow_records' |
    awk '/^Time: / { printf "%.6f\n", $2 / 1000 }'
}
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

report_s >/dev/null
count_s >/dev/null
rep=() cnt=()
for _ in $(seq 1 "$RUNS"); do
  rep+=("$(report_s)")
  cnt+=("$(count_s)")
done
rows=$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["devices"]), d["totals"]["escrowed"], d["audit"]["tree_size"])' "$W/report.json")
records=$(psql "$ESCROWD_DB_DSN" -c 'SELECT count(*) FROM escrow_records')
R=$(printf '%s\n' "${rep[@]}" | median)
C=$(printf '%s\n' "${cnt[@]}" | median)
echo "bench/reports: $N devices, $records records (generated in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s), $(nproc) cores, median of $RUNS"
echo "report rows / escrowed / checkpoint size: $rows; JSON $(stat -c %s "$W/report.json") bytes"
awk -v r="$R" -v c="$C" 'BEGIN {
  printf "coverage report (HTTP, JSON)  %9.1f ms\n", r * 1000
  printf "SELECT count(*) escrow_records %8.1f ms\n", c * 1000
  printf "ratio %.1fx (target <= 20x)\n", r / c }'
