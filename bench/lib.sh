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

# bench_escrow_bins [BUILD_DIR]: BUILD (absolute), LOAD (bench-escrow),
# ESCROWD and CTL (escrowctl) of that build, each checked to exist.
bench_escrow_bins() {
  BUILD=$(cd "${1:-build}" && pwd)
  LOAD=$BUILD/bench/escrow/bench-escrow
  ESCROWD=$BUILD/server/escrowd
  CTL=$BUILD/ctl/escrowctl
  local b
  for b in "$LOAD" "$ESCROWD" "$CTL"; do
    [ -x "$b" ] || { echo "run.sh: $b not found; build first (cmake --build $BUILD)" >&2; exit 1; }
  done
}
