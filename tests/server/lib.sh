# lib.sh - helpers for the escrowd integration tests (sourced).
#
# Environment from CTest: KE_ESCROWD, KE_TESTD (binaries), KE_SRC (source
# tree), KE_FIXTURE (file written by fixture.sh setup).
set -euo pipefail
# Under pipefail, `producer | grep -q X` fails at random: grep -q exits at
# the first match, and a producer still writing dies of SIGPIPE, which fails
# the pipeline.  Write `producer | grep X >/dev/null` (reads to the end).

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${KE_ESCROWD:?}" "${KE_SRC:?}"
PGLOCAL=$KE_SRC/scripts/pg-local.sh
TEST_NAME=$(basename "$0" .sh)
STARTED=()       # daemons this script started (names under $TW)
TW=""            # this test's private work dir

log() { echo "[$TEST_NAME] $*"; }
ok() { echo "[$TEST_NAME] ok: $*"; }
fail() {
  echo "[$TEST_NAME] FAIL: $*" >&2
  if [ -n "${BODYF:-}" ] && [ -f "$BODYF" ]; then
    echo "--- last response body:" >&2; head -c 2000 "$BODYF" >&2; echo >&2
  fi
  for n in "${STARTED[@]}"; do
    echo "--- log of $n:" >&2; tail -n 30 "$TW/$n.log" >&2 || true
  done
  exit 1
}

# Load the shared fixture (cluster + migrated database + main escrowd).
load_fixture() {
  [ -f "${KE_FIXTURE:?}" ] || fail "fixture not set up ($KE_FIXTURE missing)"
  # shellcheck disable=SC1090
  . "$KE_FIXTURE"
  TW=$(mktemp -d "$FIX_WORK/$TEST_NAME.XXXXXX")
  chmod 755 "$TW"   # tests with a cluster of their own keep it in here
  BODYF=$TW/body
  HDRF=$TW/headers
  trap cleanup_test EXIT
}

cleanup_test() {
  local rc=$?
  set +e
  for n in "${STARTED[@]}"; do
    if [ -f "$TW/$n.pid" ] && [ ! -f "$TW/$n.rc" ]; then
      kill -TERM "$(cat "$TW/$n.pid")" 2>/dev/null
    fi
  done
  [ "${#STARTED[@]}" -gt 0 ] && sleep 0.2
  exit $rc
}

# start_daemon NAME BINARY [ENV=VALUE...] -- [ARGS...]
# Starts BINARY serve with ESCROWD_* settings for the fixture database on a
# free port (port 0; the port is read back from the "listening" log line).
start_daemon() {
  local name=$1 bin=$2 port="" i
  shift 2
  local envs=() args=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
  [ "${1:-}" = -- ] && shift
  args=("$@")
  : >"$TW/$name.log"
  rm -f "$TW/$name.pid" "$TW/$name.rc"
  STARTED+=("$name")
  setsid "$HERE/run_bg.sh" "$TW/$name.pid" "$TW/$name.rc" "$TW/$name.log" \
    env ESCROWD_CONFIG=/dev/null ESCROWD_LISTEN_ADDRESS=127.0.0.1 ESCROWD_PORT=0 \
        ESCROWD_SCHEMA_DIR="$KE_SRC/schema" ESCROWD_DB_DSN="$ESCROWD_DB_DSN" \
        ESCROWD_DB_OWNER_DSN="$ESCROWD_DB_OWNER_DSN" ESCROWD_THREADS=4 \
        ESCROWD_AUDIT_KEY_FILE="${FIX_WORK:-$TW}/audit-log.key" \
        "${envs[@]}" "$bin" "${args[@]}" </dev/null >/dev/null 2>&1 &
  for i in $(seq 1 300); do
    port=$(sed -n 's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' "$TW/$name.log" | head -n1)
    [ -n "$port" ] && break
    [ -f "$TW/$name.rc" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || fail "$name did not start (exit status $(cat "$TW/$name.rc" 2>/dev/null || echo ?))"
  echo "$port" >"$TW/$name.port"
  eval "PORT_$name=$port"
}

daemon_pid() { cat "$TW/$1.pid"; }

# Wait until daemon NAME exited; prints its exit status.
wait_exit() {  # NAME [timeout_s]
  local i n=$(( ${2:-20} * 20 ))
  for i in $(seq 1 $n); do
    [ -f "$TW/$1.rc" ] && { cat "$TW/$1.rc"; return 0; }
    sleep 0.05
  done
  echo timeout
}

# Graceful stop; fails the test unless the exit status is 0 and the log is
# free of sanitizer reports.
stop_daemon() {  # NAME
  local rc
  kill -TERM "$(daemon_pid "$1")" 2>/dev/null || true
  rc=$(wait_exit "$1" 30)
  [ "$rc" = 0 ] || fail "$1 exited with status $rc after SIGTERM"
  check_log_clean "$TW/$1.log"
}

check_log_clean() {
  if grep -Eq 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$1"; then
    fail "sanitizer report in $1"
  fi
}

# http METHOD URL [curl args...]: sets STATUS; body in $BODYF, headers in $HDRF.
http() {
  local m=$1 url=$2
  shift 2
  STATUS=$(curl -sS --max-time 20 -o "$BODYF" -D "$HDRF" -w '%{http_code}' -X "$m" "$@" "$url" 2>"$TW/curl.err") || STATUS=000
  [ -z "${KE_API_RECORD:-}" ] || api_record "$m" "$url"
}

# api_record METHOD URL: append the answer in $STATUS, $HDRF and $BODYF as
# one JSON line to a file of this process under $KE_API_RECORD, for the
# check of docs/api.yaml against what the server really sent
# (tests/api/check_responses.mjs; device_agent.py records the Python side).
# No fork but base64: it runs on every request of the server suite.
api_record() {
  local ct="" cl="" line b64="" u=${2//\\/\\\\}
  [ "$STATUS" != 000 ] && [ -d "$KE_API_RECORD" ] || return 0
  while IFS= read -r line; do   # the last header block's Content-Type and -Length
    line=${line%$'\r'}
    case ${line,,} in
      http/*) ct="" cl="" ;;
      content-type:*) ct=${line#*:}; ct=${ct# } ;;
      content-length:*) cl=${line#*:}; cl=${cl# } ;;
    esac
  done <"$HDRF"
  # curl leaves $BODYF alone when no body came: HEAD and empty answers.
  [ "$1" = HEAD ] || [ "$cl" = 0 ] || b64=$(base64 -w0 "$BODYF" 2>/dev/null)
  ct=${ct//\\/\\\\}
  printf '{"test":"%s","method":"%s","url":"%s","status":%s,"content_type":"%s","body_b64":"%s"}\n' \
    "$TEST_NAME" "$1" "${u//\"/\\\"}" "$STATUS" "${ct//\"/\\\"}" "$b64" \
    >>"$KE_API_RECORD/$TEST_NAME.$BASHPID.jsonl"
}

expect_status() {
  [ "$STATUS" = "$1" ] || fail "expected HTTP $1, got $STATUS ($2)"
}

# The body is exactly {"error":{"code":CODE,"message":<non-empty string>}}.
expect_error() {  # CODE what
  python3 - "$BODYF" "$1" <<'PY' || fail "expected JSON error '$1' ($2)"
import json, sys
b = json.load(open(sys.argv[1]))
assert set(b) == {"error"}, b
e = b["error"]
assert set(e) == {"code", "message"}, e
assert e["code"] == sys.argv[2], e
assert isinstance(e["message"], str) and e["message"], e
PY
}

expect_header() {  # REGEX what
  grep -Eiq "$1" "$HDRF" || fail "missing header /$1/ ($2)"
}

# json_get PATH: print a field of the last body ("a.b.c").
json_get() {
  python3 - "$BODYF" "$1" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."):
    v = v[int(k)] if isinstance(v, list) else v[k]
print(v if not isinstance(v, bool) else str(v).lower())
PY
}

expect_serving() {  # URL-base what
  http GET "$1/healthz"
  expect_status 200 "still serving after $2"
}
