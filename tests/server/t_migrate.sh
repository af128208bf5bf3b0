#!/usr/bin/env bash
# Migrations: idempotent, safe when concurrent, checksummed; serve refuses a
# database that is behind or tampered with, and a privileged role; the
# application role cannot rewrite the append-only audit log, and the trigger
# stops even the owner.
. "$(dirname "$0")/lib.sh"
load_fixture

admin() { "$PGLOCAL" psql --dir "$FIX_VAR" admin -v ON_ERROR_STOP=1 -q "$@"; }
db=mig_$$_$RANDOM
admin -c "CREATE DATABASE $db OWNER keyescrow_owner" -c "GRANT CONNECT ON DATABASE $db TO keyescrow_app"
trap 'rc=$?; admin -c "DROP DATABASE IF EXISTS $db" >/dev/null 2>&1; (exit $rc); cleanup_test' EXIT
APP_DSN=${ESCROWD_DB_DSN/dbname=keyescrow/dbname=$db}
OWN_DSN=${ESCROWD_DB_OWNER_DSN/dbname=keyescrow/dbname=$db}
esc() {  # run escrowd on the test database
  env ESCROWD_CONFIG=/dev/null ESCROWD_SCHEMA_DIR="${SCHEMA:-$KE_SRC/schema}" \
      ESCROWD_DB_DSN="${ESC_DSN:-$APP_DSN}" ESCROWD_DB_OWNER_DSN="$OWN_DSN" "$KE_ESCROWD" "$@"
}
app_sql() { psql -X -q -v ON_ERROR_STOP=1 "$APP_DSN" "$@"; }
own_sql() { psql -X -q -v ON_ERROR_STOP=1 "$OWN_DSN" "$@"; }

# serve refuses the empty (behind) database with a clear message.
rc=0; esc serve >"$TW/behind.log" 2>&1 || rc=$?
[ $rc -eq 3 ] || fail "serve on an unmigrated database exited $rc, want 3"
grep -q "schema is behind; run 'escrowd migrate'" "$TW/behind.log" || fail "no clear message: $(cat "$TW/behind.log")"
rc=0; esc migrate --status >"$TW/status.out" 2>&1 || rc=$?
[ $rc -eq 3 ] && grep -q 'pending' "$TW/status.out" || fail "migrate --status on a new database"
ok "serve refuses a database that is behind (exit 3)"

# Two migrators at once: both succeed, each file applied exactly once.
esc migrate >"$TW/m1.log" 2>&1 & p1=$!
esc migrate >"$TW/m2.log" 2>&1 & p2=$!
wait $p1 || fail "first concurrent migrate failed: $(cat "$TW/m1.log")"
wait $p2 || fail "second concurrent migrate failed: $(cat "$TW/m2.log")"
n=$(own_sql -At -c "SELECT count(*) FROM keyescrow_schema_version")
files=$(ls "$KE_SRC"/schema/[0-9][0-9][0-9]_*.sql | wc -l)
[ "$n" = "$files" ] || fail "version table has $n rows for $files files"
cat "$TW/m1.log" "$TW/m2.log" | grep -c '"migration applied"' | grep -qx "$files" ||
  fail "files applied more than once"
ok "two concurrent migrates succeed, each file applied once"

esc migrate >"$TW/m3.log" 2>&1 || fail "rerun failed"
grep -q 'already up to date' "$TW/m3.log" || fail "rerun did something"
esc migrate --status >"$TW/status.out" || fail "migrate --status after migrating"
ok "migrate is idempotent"

# A released migration that changed on disk is refused by migrate and serve.
SCHEMA=$TW/schema; cp -r "$KE_SRC/schema" "$SCHEMA"
echo '-- edited' >>"$SCHEMA/001_init.sql"
rc=0; esc migrate >"$TW/tamper.log" 2>&1 || rc=$?
[ $rc -eq 3 ] && grep -q 'must never be edited' "$TW/tamper.log" || fail "migrate accepted an edited file ($rc)"
rc=0; esc serve >"$TW/tamper2.log" 2>&1 || rc=$?
[ $rc -eq 3 ] || fail "serve accepted an edited migration ($rc)"
# A gap in the numbering is refused before touching the database.
# (NEXT, AFTER: the numbers after the release's last migration.)
NEXT=$(printf '%03d' $((files + 1))); AFTER=$(printf '%03d' $((files + 2)))
cp "$KE_SRC/schema/001_init.sql" "$SCHEMA/001_init.sql"
echo 'SELECT 1;' >"$SCHEMA/${AFTER}_gap.sql"
rc=0; esc migrate >"$TW/gap.log" 2>&1 || rc=$?
[ $rc -eq 2 ] && grep -q 'without gaps' "$TW/gap.log" || fail "gap accepted ($rc)"
# A new migration is applied; a failing one is rolled back entirely.
mv "$SCHEMA/${AFTER}_gap.sql" "$SCHEMA/${NEXT}_extra.sql"
echo 'CREATE TABLE mig_probe (x int);' >"$SCHEMA/${NEXT}_extra.sql"
esc migrate >"$TW/new.log" 2>&1 || fail "new migration: $(cat "$TW/new.log")"
printf 'CREATE TABLE half_done (x int);\nSELECT no_such_function();\n' >"$SCHEMA/${AFTER}_broken.sql"
rc=0; esc migrate >"$TW/broken.log" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q "${AFTER}_broken" "$TW/broken.log" || fail "broken migration ($rc)"
[ "$(own_sql -At -c "SELECT to_regclass('half_done') IS NULL")" = t ] || fail "broken migration left half its work"
[ "$(own_sql -At -c "SELECT max(version) FROM keyescrow_schema_version")" = $((files + 1)) ] || fail "version after failure"
# With NEXT applied the database is ahead of the release's schema dir: serve accepts.
SCHEMA=""
start_daemon ahead "$KE_ESCROWD" ESCROWD_DB_DSN="$APP_DSN" -- serve
grep -q 'newer than this escrowd' "$TW/ahead.log" || fail "no warning for a newer schema"
stop_daemon ahead
ok "edited files, gaps and failing migrations are refused; a failed file leaves nothing"

# The application role: SELECT on audit_log, nothing else; leaves are
# written by the sequencer functions of 003 (the daemon above logged its
# start and stop through them).
h=$(printf '%064d' 0)
out=$(app_sql -c "INSERT INTO audit_log (seq, leaf, leaf_hash) VALUES (1000, '\\x7b7d', '\\x$h')" 2>&1) &&
  fail "app role can INSERT into audit_log directly"
echo "$out" | grep -q 'permission denied' || fail "unexpected error for INSERT: $out"
n0=$(app_sql -At -c 'SELECT count(*) FROM audit_log')
[ "$n0" -ge 2 ] || fail "app role cannot SELECT, or server start/stop were not logged ($n0)"
for stmt in "UPDATE audit_log SET leaf = '\\x00'" "DELETE FROM audit_log" "TRUNCATE audit_log" \
            "DELETE FROM keyescrow_schema_version" "DROP TABLE audit_log" \
            "ALTER TABLE audit_log DISABLE TRIGGER USER" "CREATE TABLE evil (x int)"; do
  out=$(app_sql -c "$stmt" 2>&1) && fail "app role could run: $stmt"
  echo "$out" | grep -Eq 'permission denied|must be owner' || fail "unexpected error for '$stmt': $out"
done
ok "app role cannot UPDATE, DELETE, TRUNCATE, DROP or ALTER (permission denied)"

# The owner is stopped by the trigger; maintenance mode is explicit.
for stmt in "UPDATE audit_log SET leaf = '\\x00'" "DELETE FROM audit_log" "TRUNCATE audit_log"; do
  out=$(own_sql -c "$stmt" 2>&1) && fail "owner could run: $stmt"
  echo "$out" | grep -q 'append-only' || fail "unexpected error for owner '$stmt': $out"
done
out=$(admin -d "$db" -c "DELETE FROM audit_log" 2>&1) && fail "superuser could delete"
echo "$out" | grep -q 'append-only' || fail "superuser: $out"
out=$(app_sql -c "BEGIN" -c "SET LOCAL keyescrow.maintenance = 'on'" -c "DELETE FROM audit_log" 2>&1) &&
  fail "app role used maintenance mode"
own_sql -c "BEGIN" -c "SET LOCAL keyescrow.maintenance = 'on'" \
        -c "UPDATE audit_log SET created = created" -c "COMMIT" || fail "owner maintenance mode"
[ "$(own_sql -At -c 'SELECT count(*) FROM audit_log')" = "$n0" ] || fail "row lost"
ok "trigger refuses UPDATE/DELETE/TRUNCATE for owner and superuser outside maintenance"

# serve refuses to run as a role that could rewrite the audit log.
rc=0; ESC_DSN=$OWN_DSN esc serve >"$TW/owner.log" 2>&1 || rc=$?
[ $rc -eq 2 ] && grep -q 'can modify audit_log' "$TW/owner.log" || fail "serve as owner ($rc): $(cat "$TW/owner.log")"
ok "serve refuses the owner role"
