# t_audit_lib.sh - helpers of the audit tests (sourced after lib.sh and
# load_fixture).  Each audit test works on a private database of the fixture
# cluster, because it tampers with the log or needs an exact count.
#
# Environment from CTest: KE_AUDITD (tests/server/audit_testd: escrowd plus
# POST /test/audit), KE_ESCROWCTL.
: "${KE_AUDITD:?}" "${KE_ESCROWCTL:?}"
CHECK=$HERE/t_audit_check.py

admin_sql() { "$PGLOCAL" psql --dir "$FIX_VAR" admin -v ON_ERROR_STOP=1 -q "$@"; }

# aud_db: create and migrate a private database; sets ADB, ADB_APP, ADB_OWN.
# It is dropped (after the daemons stopped) when the test exits.
aud_db() {
  ADB=audit_$$_$RANDOM
  admin_sql -d postgres -c "CREATE DATABASE $ADB OWNER keyescrow_owner" \
    -c "GRANT CONNECT ON DATABASE $ADB TO keyescrow_app" || fail "cannot create database"
  trap 'rc=$?; aud_drop; (exit $rc); cleanup_test' EXIT
  ADB_APP=${ESCROWD_DB_DSN/dbname=keyescrow/dbname=$ADB}
  ADB_OWN=${ESCROWD_DB_OWNER_DSN/dbname=keyescrow/dbname=$ADB}
  env ESCROWD_CONFIG=/dev/null ESCROWD_SCHEMA_DIR="$KE_SRC/schema" ESCROWD_DB_OWNER_DSN="$ADB_OWN" \
    "$KE_ESCROWD" migrate >"$TW/migrate.log" 2>&1 || fail "migrate: $(cat "$TW/migrate.log")"
  AKEY=$TW/audit-log.key
}

aud_drop() {
  local n
  for n in "${STARTED[@]}"; do
    [ -f "$TW/$n.pid" ] && [ ! -f "$TW/$n.rc" ] && kill -TERM "$(cat "$TW/$n.pid")" 2>/dev/null
  done
  for n in "${STARTED[@]}"; do wait_exit "$n" 15 >/dev/null; done
  admin_sql -d postgres -c "DROP DATABASE IF EXISTS $ADB" >/dev/null 2>&1 || true
}

app_q() { psql -X -q -At -v ON_ERROR_STOP=1 "$ADB_APP" "$@"; }
own_q() { psql -X -q -At -v ON_ERROR_STOP=1 "$ADB_OWN" "$@"; }
# As the superuser, in the documented maintenance path (docs/operations.md).
maint_q() {
  admin_sql -d "$ADB" -c "BEGIN" -c "SET LOCAL keyescrow.maintenance = 'on'" "$@" -c "COMMIT"
}

# start_aud NAME [ENV=VALUE...] [-- ARGS]: audit_testd on the private database.
start_aud() {
  local name=$1; shift
  local envs=() args=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
  [ "${1:-}" = -- ] && shift
  args=("$@")
  start_daemon "$name" "$KE_AUDITD" ESCROWD_DB_DSN="$ADB_APP" ESCROWD_DB_OWNER_DSN="$ADB_OWN" \
    ESCROWD_AUDIT_KEY_FILE="$AKEY" ESCROWD_AUDIT_ORIGIN=test.keyescrow.example/audit \
    ESCROWD_AUDIT_CHECKPOINT_INTERVAL_MS=300 "${envs[@]}" -- "${args[@]}"
}

# mint_auditor NAME ROLE: a user with ROLE and a valid API token for it
# (made directly in the database, the accounts schema of 002); prints it.
mint_token_for() {
  local name=$1 role=$2 tok hex
  tok=$(python3 -c 'import base64,os; print("kea_" + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("="))')
  hex=$(printf '%s' "$tok" | sha256sum | cut -c1-64)
  app_q -c "INSERT INTO users (name, role, custodian_index, pw_salt, pw_hash, pw_n, pw_r, pw_p)
    VALUES ('$name', '$role', CASE WHEN '$role' = 'custodian' THEN 1 END,
            decode(md5(random()::text), 'hex'), sha256(random()::text::bytea), 1024, 8, 1)" >/dev/null
  app_q -c "INSERT INTO auth_tokens (user_id, kind, token_hash, name, expires)
    SELECT id, 'api', '\\x$hex', 'audit test', now() + interval '1 hour' FROM users
     WHERE name = '$name'" >/dev/null
  echo "$tok"
}

# events URL N PARALLEL PREFIX: N audited requests, PARALLEL at a time;
# their leaf indices go to $TW/indices.PREFIX (one per line).
events() {
  local url=$1 n=$2 par=$3 prefix=$4
  # One printf per answer: concurrent writers never split a line.
  seq 1 "$n" | xargs -P "$par" -I{} sh -c \
    'r=$(curl -sS --max-time 30 -H "Content-Type: application/json" --data "{\"object\":\"$2:{}\"}" "$1/test/audit"); printf "%s\n" "$r"' \
    _ "$url" "$prefix" >"$TW/indices.$prefix.raw" || fail "audited requests failed"
  python3 - "$TW/indices.$prefix.raw" "$TW/indices.$prefix" "$n" <<'PY' || fail "an audited request failed: $(grep -v index "$TW/indices.$prefix.raw" | head -3)"
import json, sys
out = [json.loads(l)["index"] for l in open(sys.argv[1]) if l.strip()]
assert len(out) == int(sys.argv[3]), len(out)
open(sys.argv[2], "w").write("".join("%d\n" % i for i in out))
PY
}

vkey_of() {  # URL: the published verifier key
  http GET "$1/v1/audit/key"
  expect_status 200 "GET /v1/audit/key"
  json_get verifier_key
}
