# bench/lib.sh - sourced by the bench/*/run.sh scripts.

# bench_port LOG WHAT: the port a daemon started with ESCROWD_PORT=0 says it
# listens on in LOG (its first "listening" line), waited for up to 10 s;
# exits the script, showing LOG, if WHAT never got there.
bench_port() {
  local port=""
  for _ in $(seq 1 200); do
    port=$(sed -n 's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' "$1" | head -n1)
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || { echo "run.sh: $2 did not start:" >&2; cat "$1" >&2; exit 1; }
  echo "$port"
}
