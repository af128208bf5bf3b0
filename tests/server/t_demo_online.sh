#!/usr/bin/env bash
# t_demo_online.sh - scripts/demo-online.sh, the online half of the
# quick start, against a real escrowd on a private database: it must run to
# the end (it checks the recovered key, the rotation and the audit log
# itself), run again on the same database (accounts and key reused, a new
# device), and change nothing on a database whose accounts it did not make.
set -euo pipefail
. "$KE_SRC/tests/server/lib.sh"
. "$KE_SRC/tests/server/t_auth_lib.sh"
TEST_NAME=demo-online
load_fixture
make_private_db
start_private main
URL=http://127.0.0.1:$PORT_main
BUILD=$(cd "$(dirname "$KE_ESCROWD")/.." && pwd)
demo() {
  env ESCROWD_CONFIG=/dev/null ESCROWD_SCHEMA_DIR="$KE_SRC/schema" ESCROWD_DB_DSN="$PRIV_APP_DSN" \
    ESCROWD_DB_OWNER_DSN="$PRIV_OWN_DSN" ESCROWD_PASSWORD_SCRYPT_LOG2N=10 HOME="$TW" \
    KE_DEMO_ESCROWD_CONFIG=- KE_DEMO_ONLINE_DIR="$TW/demo" ESCROW_AGENT_SYSLOG=0 \
    "$KE_SRC/scripts/demo-online.sh" "$BUILD" "$URL" >"$TW/demo.out" 2>&1
}
demo || fail "demo-online: $(cat "$TW/demo.out")"
grep -q "recovered key is exactly the escrowed one" "$TW/demo.out" || fail "$(cat "$TW/demo.out")"
grep -q "audit verify (auditor): ok: " "$TW/demo.out" || fail "$(cat "$TW/demo.out")"
[ "$(app_psql "$PRIV_APP_DSN" -c "SELECT count(*) FROM escrow_records WHERE state = 'rotated'")" = 1 ] ||
  fail "no rotated record"
ok "demo-online runs to the end"
demo || fail "demo-online again: $(cat "$TW/demo.out")"
[ "$(app_psql "$PRIV_APP_DSN" -c "SELECT count(*) FROM devices")" = 2 ] || fail "rerun: devices"
[ "$(app_psql "$PRIV_APP_DSN" -c "SELECT count(*) FROM escrow_keys")" = 1 ] || fail "rerun: keys"
ok "demo-online runs again on the same database"
# A database with accounts the demo did not make: nothing is touched.
rm -rf "$TW/demo"
n=$(app_psql "$PRIV_APP_DSN" -c "SELECT count(*) FROM audit_log")
demo || fail "demo-online on a foreign database: $(cat "$TW/demo.out")"
grep -q "already has accounts this demo did not make; skipped" "$TW/demo.out" || fail "$(cat "$TW/demo.out")"
[ "$(app_psql "$PRIV_APP_DSN" -c "SELECT count(*) FROM devices")" = 2 ] || fail "foreign database touched"
ok "demo-online leaves a database it did not set up alone"
stop_daemon main
