# t_auth_lib.sh - helpers of the account tests (sourced after lib.sh and
# load_fixture): users and bearer tokens made directly in the database as
# the application role, so that tests need not log in for every principal.

# app_psql DSN [psql args...]
app_psql() { local dsn=$1; shift; psql -X -q -At -v ON_ERROR_STOP=1 "$dsn" "$@"; }

# new_token KIND: a token in escrowd's format ("ke<k>_" + 43 base64url).
new_token() {
  python3 -c 'import base64,os,sys; print("ke%s_%s" % (sys.argv[1], base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")))' "$1"
}
token_hash_hex() { printf '%s' "$1" | sha256sum | cut -c1-64; }

# mint_user DSN NAME ROLE [CUSTODIAN_INDEX|auto]: an account whose password
# nobody knows (random hash).  "auto" picks a free custodian index.
mint_user() {
  local dsn=$1 name=$2 role=$3 cidx=${4:-NULL}
  if [ "$cidx" = auto ]; then
    cidx="(SELECT min(i) FROM generate_series(1, 255) i WHERE i NOT IN
            (SELECT custodian_index FROM users WHERE custodian_index IS NOT NULL))"
  fi
  app_psql "$dsn" -c "INSERT INTO users (name, role, custodian_index, pw_salt, pw_hash, pw_n, pw_r, pw_p)
    VALUES ('$name', '$role', $cidx, decode(md5(random()::text), 'hex'),
            sha256(random()::text::bytea), 1024, 8, 1)"
}

# mint_token DSN USER [expired|revoked]: prints a new bearer token of USER.
mint_token() {
  local dsn=$1 user=$2 state=${3:-valid} tok hex created="now()" expires="now() + interval '1 hour'" revoked=NULL
  tok=$(new_token a)
  hex=$(token_hash_hex "$tok")
  case $state in
    expired) created="now() - interval '2 hours'"; expires="now() - interval '1 hour'" ;;
    revoked) revoked="now()" ;;
  esac
  app_psql "$dsn" -c "INSERT INTO auth_tokens (user_id, kind, token_hash, name, created, expires, revoked)
    SELECT id, 'api', '\\x$hex', 'test', $created, $expires, $revoked FROM users WHERE name = '$user'" >/dev/null
  echo "$tok"
}

# A private database (migrated) for tests that need a world of their own:
# sets PRIV_DB, PRIV_APP_DSN, PRIV_OWN_DSN; dropped when the test exits.
make_private_db() {
  PRIV_DB=auth_$$_$RANDOM
  "$PGLOCAL" psql --dir "$FIX_VAR" admin -v ON_ERROR_STOP=1 -q \
    -c "CREATE DATABASE $PRIV_DB OWNER keyescrow_owner" \
    -c "GRANT CONNECT ON DATABASE $PRIV_DB TO keyescrow_app" || fail "cannot create database"
  trap 'rc=$?; drop_private_db; (exit $rc); cleanup_test' EXIT
  PRIV_APP_DSN=${ESCROWD_DB_DSN/dbname=keyescrow/dbname=$PRIV_DB}
  PRIV_OWN_DSN=${ESCROWD_DB_OWNER_DSN/dbname=keyescrow/dbname=$PRIV_DB}
  priv_escrowd migrate >"$TW/migrate.log" 2>&1 || fail "migrate: $(cat "$TW/migrate.log")"
}

drop_private_db() {
  local n
  # The daemons must be gone before the database can be dropped.
  for n in "${STARTED[@]}"; do
    [ -f "$TW/$n.pid" ] && [ ! -f "$TW/$n.rc" ] && kill -TERM "$(cat "$TW/$n.pid")" 2>/dev/null
  done
  for n in "${STARTED[@]}"; do wait_exit "$n" 10 >/dev/null; done
  "$PGLOCAL" psql --dir "$FIX_VAR" admin -q -c "DROP DATABASE IF EXISTS $PRIV_DB" >/dev/null 2>&1 || true
}

# escrowd (not serve) on the private database.
priv_escrowd() {
  env ESCROWD_CONFIG=/dev/null ESCROWD_SCHEMA_DIR="$KE_SRC/schema" \
      ESCROWD_DB_DSN="$PRIV_APP_DSN" ESCROWD_DB_OWNER_DSN="$PRIV_OWN_DSN" \
      ESCROWD_PASSWORD_SCRYPT_LOG2N=10 "$KE_ESCROWD" "$@"
}

# Start escrowd "NAME" on the private database (cheap scrypt for speed).
start_private() {  # NAME [ENV=VALUE...]
  local name=$1; shift
  start_daemon "$name" "$KE_ESCROWD" ESCROWD_DB_DSN="$PRIV_APP_DSN" \
    ESCROWD_DB_OWNER_DSN="$PRIV_OWN_DSN" ESCROWD_AUDIT_KEY_FILE="$TW/audit.key" \
    ESCROWD_PASSWORD_SCRYPT_LOG2N=10 "$@" -- serve
}

# jpost URL TOKEN JSON [curl args]: POST JSON with a bearer token ("" = none).
jpost() {
  local url=$1 tok=$2 body=$3; shift 3
  local auth=()
  [ -n "$tok" ] && auth=(-H "Authorization: Bearer $tok")
  http POST "$url" "${auth[@]}" -H 'Content-Type: application/json' --data-binary "$body" "$@"
}

# jget URL TOKEN [METHOD]
jcall() {
  local m=$1 url=$2 tok=$3; shift 3
  local auth=()
  [ -n "$tok" ] && auth=(-H "Authorization: Bearer $tok")
  http "$m" "$url" "${auth[@]}" "$@"
}
