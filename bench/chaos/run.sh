#!/usr/bin/env bash
# bench/chaos/run.sh [BUILD_DIR] - crash safety of escrow under load
# (issue 15): nothing acknowledged is lost when escrowd is killed or when
# PostgreSQL crashes.
#
# For each agent count (8 and 64), on a database of its own in a durable
# private cluster (pg-local.sh without --fast): bench-escrow uploads with
# `-o`, writing every answer as it arrives.  Once the load runs, escrowd is
# killed with SIGKILL and started again on the same port; once uploads are
# acknowledged again, PostgreSQL is crashed (`pg-local.sh stop --immediate`:
# no checkpoint, WAL replayed on start) and started again.  After the run it
# proves (bench/escrow/answers.sh) that every upload that got a 201 receipt
# is in escrow_records and in audit_log at its receipt's leaf index, none
# twice, and runs `escrowctl audit verify` against the log's key.
#
# Prints per fault the time from the fault until PostgreSQL's log said it
# accepts connections again (the PostgreSQL crash only), until the service
# was back (escrowd listening, pg-local.sh start returned) and until the first
# receipt answered after it (an acknowledgement with a leaf index beyond the
# log's last one once the fault had struck), then per agent count
# "acknowledged N, found N, lost 0, duplicated 0".  Exit status 1 on any
# loss, duplicate or failed verification.
#
# Knobs: BENCH_SECONDS (load per agent count, default 20: both faults and
# their recoveries must fit), BENCH_THREADS (escrowd workers, 16),
# BENCH_AGENTS ("8 64").  Not part of CTest (tests/server/t_escrow_crash.sh
# is its small form for escrowd's SIGKILL).
set -euo pipefail
cd "$(dirname "$0")/../.."
. bench/lib.sh
. bench/escrow/answers.sh
SRC=$PWD
bench_escrow_bins "${1:-build}"
SECS=${BENCH_SECONDS:-20}
THREADS=${BENCH_THREADS:-16}
AGENTS=${BENCH_AGENTS:-"8 64"}
PGL=$SRC/scripts/pg-local.sh

W=$(mktemp -d /tmp/keyescrow-bench-chaos.XXXXXX)
chmod 755 "$W"
PID="" LPID=""
cleanup() {
  [ -z "$LPID" ] || kill "$LPID" 2>/dev/null || true
  [ -n "$PID" ] && kill -TERM "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  "$PGL" stop --dir "$W/var" >/dev/null 2>&1 || true
  rm -rf "$W"
}
trap cleanup EXIT
die() { echo "run.sh: $*" >&2; exit 1; }
"$PGL" start --dir "$W/var" >/dev/null 2>&1
eval "$("$PGL" env --dir "$W/var")"
APP_DSN0=$ESCROWD_DB_DSN OWN_DSN0=$ESCROWD_DB_OWNER_DSN
export ESCROWD_CONFIG=/dev/null ESCROWD_SCHEMA_DIR="$SRC/schema"
psql() { command psql -X -q -At -v ON_ERROR_STOP=1 "$@"; }
DUR=$(psql "$ESCROWD_DB_DSN" -c "SELECT current_setting('fsync') || '/' ||
                                        current_setting('synchronous_commit')")
[ "$DUR" = "on/on" ] || die "the cluster is not durable (fsync/synchronous_commit = $DUR)"
for i in 1 2 3; do echo "bench passphrase quibble-zephyr-$i" >"$W/pass$i"; done
"$CTL" ceremony --threshold 2 --shares 3 --custodian a --custodian b --custodian c \
  --out "$W/keys" --passphrase-file 1="$W/pass1" --passphrase-file 2="$W/pass2" \
  --passphrase-file 3="$W/pass3" --scrypt-n 1024 >/dev/null 2>&1

# token ROLE: a bearer token of a new user with ROLE, made in the database.
token() {
  local tok hex
  tok="kea_$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"
  hex=$(printf '%s' "$tok" | sha256sum | cut -c1-64)
  psql "$ESCROWD_DB_DSN" >/dev/null <<SQL
INSERT INTO users (name, role, pw_salt, pw_hash, pw_n, pw_r, pw_p)
  VALUES ('bench-$1', '$1', decode(md5(random()::text), 'hex'), sha256(random()::text::bytea), 1024, 8, 1);
INSERT INTO auth_tokens (user_id, kind, token_hash, name, expires)
  SELECT id, 'api', '\\x$hex', 'bench', now() + interval '1 day' FROM users WHERE name = 'bench-$1';
SQL
  echo "$tok"
}

# start_escrowd LOG [PORT]: sets PID, PORT (0 = any free port).
start_escrowd() {
  : >"$1"  # before bench_port reads it, not when the background job opens it
  env ESCROWD_PORT="${2:-0}" ESCROWD_THREADS="$THREADS" ESCROWD_PER_IP_CONNECTION_LIMIT=0 \
      ESCROWD_AUDIT_KEY_FILE="$W/audit.key" "$ESCROWD" serve >"$1" 2>&1 &
  PID=$!
  PORT=$(bench_port "$1" escrowd) || exit 1
}

since() { awk -v a="$1" -v b="${2:-$EPOCHREALTIME}" 'BEGIN { printf "%.2f", b - a }'; }

# When PostgreSQL last said it was ready (its log's timestamp, epoch s).
pg_ready_at() {
  date -d "$(sed -n 's/^\([0-9-]* [0-9:.]* UTC\) .*database system is ready to accept connections.*/\1/p' \
             "$W/var/log/postgresql.log" | tail -n1)" +%s.%N
}

row() { printf '%-7s %-30s %10s %10s %16s\n' "$@"; }

# One agent count: its own database, escrowd on it, the load, two faults.
run() {  # AGENTS
  local a=$1 db=chaos_$1 ans=$W/answers.$1 t0 up cut url adm aud etok vk rc=0 verified=ok
  "$PGL" psql --dir "$W/var" admin -q -c "CREATE DATABASE $db OWNER keyescrow_owner" \
    -c "GRANT CONNECT ON DATABASE $db TO keyescrow_app" >/dev/null
  export ESCROWD_DB_DSN=${APP_DSN0/dbname=keyescrow/dbname=$db}
  export ESCROWD_DB_OWNER_DSN=${OWN_DSN0/dbname=keyescrow/dbname=$db}
  "$ESCROWD" migrate >/dev/null 2>&1
  adm=$(token admin)
  aud=$(token auditor)
  start_escrowd "$W/d.$a.log"
  url=http://127.0.0.1:$PORT
  ESCROWCTL_TOKEN=$adm "$CTL" escrow-key publish --server "$url" \
    --manifest "$W/keys/escrow-key.json" >/dev/null
  etok=$(ESCROWCTL_TOKEN=$adm "$CTL" enroll-token create --server "$url" --group chaos \
    --uses 1000 --expires 1d 2>/dev/null)

  "$LOAD" -u "$url" -k "$etok" -m "$W/keys/escrow-key.json" -c "$a" -t "$SECS" -w 0 -o "$ans" \
    >"$W/load.out" 2>"$W/load.err" &
  LPID=$!
  answers_wait "$ans" -1 $((a * 5)) 60 || die "no load: $(cat "$W/load.err")"

  t0=$EPOCHREALTIME
  kill -KILL "$PID"
  wait "$PID" 2>/dev/null || true
  cut=$(answers_last_leaf "$ESCROWD_DB_OWNER_DSN")
  start_escrowd "$W/d.$a.restarted.log" "$PORT"
  up=$(since "$t0")
  answers_wait "$ans" "$cut" 1 60 || die "no receipt after escrowd's restart"
  row "$a" "escrowd SIGKILL, restarted" - "$up" "$(since "$t0")"
  answers_wait "$ans" "$cut" $((a * 5)) 60 || die "the load did not resume after escrowd's restart"

  t0=$EPOCHREALTIME
  "$PGL" stop --dir "$W/var" --immediate >/dev/null 2>&1
  "$PGL" start --dir "$W/var" >"$W/pg-restart.log" 2>&1 ||
    die "PostgreSQL did not restart: $(cat "$W/pg-restart.log")"
  up=$(since "$t0")
  cut=$(answers_last_leaf "$ESCROWD_DB_OWNER_DSN")
  answers_wait "$ans" "$cut" 1 60 || die "no receipt after PostgreSQL's restart"
  row "$a" "PostgreSQL immediate shutdown" "$(since "$t0" "$(pg_ready_at)")" "$up" "$(since "$t0")"

  wait "$LPID" || die "bench-escrow: $(cat "$W/load.err")"
  LPID=""
  answers_check "$ESCROWD_DB_OWNER_DSN" "$ans" >"$W/check" 2>&1 || rc=1
  vk=$(curl -sS "$url/v1/audit/key" | python3 -c 'import json, sys; print(json.load(sys.stdin)["verifier_key"])')
  mkdir -p "$W/home"
  HOME=$W/home ESCROWCTL_TOKEN=$aud "$CTL" audit verify --server "$url" --log-key "$vk" \
    >"$W/verify" 2>&1 || { rc=1; verified="FAILED: $(tail -n1 "$W/verify")"; }
  printf '%-7s %s; %s\n' "$a" "$(head -n1 "$W/check")" "$(tail -n +2 "$W/check" | head -n1)"
  printf '%-7s answers: %s; escrowctl audit verify: %s\n' "$a" \
    "$(awk '{ n[$1]++ } END { for (s in n) printf "%s%s x%d", (k++ ? ", " : ""), s, n[s] }' "$ans")" \
    "$verified"
  [ $rc = 0 ] || { cat "$W/check" "$W/verify" >&2; STATUS=1; }
  kill -TERM "$PID" && wait "$PID" 2>/dev/null || true
  PID=""
}

echo "bench/chaos: $SECS s of load per agent count, escrowd threads $THREADS, $(nproc) cores," \
     "fsync/synchronous_commit $DUR"
row agents fault "PG ready s" "back up s" "first receipt s"
STATUS=0
for a in $AGENTS; do run "$a"; done
echo "from the fault: PG ready = PostgreSQL's log says it accepts connections again (after WAL replay);"
echo "back up = escrowd listening again / pg-local.sh start returned;"
echo "first receipt = the first upload acknowledged after the fault"
exit $STATUS
