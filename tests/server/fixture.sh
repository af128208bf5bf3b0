#!/usr/bin/env bash
# fixture.sh setup|cleanup - the shared fixture of the server suite:
#   a throwaway PostgreSQL cluster (scripts/pg-local.sh --dir <tmp>/var),
#   the keyescrow database migrated, and one escrowd ("main") on a free port.
# Tests read $KE_FIXTURE (written here) to find them.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
TEST_NAME=fixture-$1
. "$HERE/lib.sh"

case $1 in
  setup)
    if [ -f "$KE_FIXTURE" ]; then
      # A previous run died before its cleanup: clear it away first.
      . "$KE_FIXTURE"
      "$PGLOCAL" stop --dir "$FIX_WORK/var" >/dev/null 2>&1 || true
      [ -f "$FIX_WORK/main.pid" ] && kill -KILL "$(cat "$FIX_WORK/main.pid")" 2>/dev/null || true
      rm -rf "$FIX_WORK" "$KE_FIXTURE"
    fi
    # The answers the tests record (lib.sh api_record) are this run's only.
    if [ -n "${KE_API_RECORD:-}" ]; then rm -rf "$KE_API_RECORD"; mkdir -p "$KE_API_RECORD"; fi
    FIX_WORK=$(mktemp -d /tmp/keyescrow-srvtest.XXXXXX)
    chmod 755 "$FIX_WORK"   # the cluster runs as keyescrow-pg when root
    TW=$FIX_WORK
    "$PGLOCAL" start --dir "$FIX_WORK/var" --fast
    eval "$("$PGLOCAL" env --dir "$FIX_WORK/var")"
    ESCROWD_CONFIG=/dev/null ESCROWD_SCHEMA_DIR="$KE_SRC/schema" "$KE_ESCROWD" migrate
    start_daemon main "$KE_ESCROWD" ESCROWD_CONNECTION_TIMEOUT=5 -- serve
    {
      printf 'FIX_WORK=%q\n' "$FIX_WORK"
      printf 'FIX_VAR=%q\n' "$FIX_WORK/var"
      "$PGLOCAL" env --dir "$FIX_WORK/var"
      printf 'MAIN=http://127.0.0.1:%s\n' "$PORT_main"
    } >"$KE_FIXTURE.tmp"
    mv "$KE_FIXTURE.tmp" "$KE_FIXTURE"
    trap - EXIT
    ok "fixture ready: cluster in $FIX_WORK/var, escrowd on port $PORT_main"
    ;;
  cleanup)
    [ -f "$KE_FIXTURE" ] || { log "nothing to clean"; exit 0; }
    . "$KE_FIXTURE"
    TW=$FIX_WORK
    STARTED=(main)
    trap - EXIT
    status=0
    ( stop_daemon main ) || status=1
    "$PGLOCAL" stop --dir "$FIX_WORK/var" || status=1
    if [ $status -eq 0 ]; then
      rm -rf "$FIX_WORK" "$KE_FIXTURE"
      ok "fixture removed"
    else
      log "left $FIX_WORK for inspection"
      rm -f "$KE_FIXTURE"
    fi
    exit $status
    ;;
  *) echo "usage: fixture.sh setup|cleanup" >&2; exit 2 ;;
esac
