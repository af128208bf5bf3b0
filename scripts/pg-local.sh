#!/usr/bin/env bash
# pg-local.sh - a private PostgreSQL 15 cluster for keyescrow development.
#
#   scripts/pg-local.sh start  [--dir DIR] [--fast]   create if needed, start
#   scripts/pg-local.sh stop   [--dir DIR] [--immediate]
#                                                     fast shutdown; --immediate
#                                                     crashes it (no checkpoint:
#                                                     the next start replays WAL)
#   scripts/pg-local.sh status [--dir DIR]            exit 0 running, 3 stopped
#   scripts/pg-local.sh env    [--dir DIR]            print libpq settings (eval it)
#   scripts/pg-local.sh psql   [--dir DIR] [admin|owner|app] [psql args...]
#
# Layout under DIR (default ./var):  pg/ (data, mode 0700), run/ (the Unix
# socket; no TCP: listen_addresses = ''), log/postgresql.log, pg-auth/
# (generated passwords and a pgpass file, mode 0700).
#
# Authentication on the private socket:
#   * keyescrow_owner (schema owner, runs migrations) and keyescrow_app (the
#     server's restricted role) log in with scram-sha-256 passwords that are
#     generated here and kept in pg-auth/pgpass; the DSNs printed by `env`
#     point libpq at that file (passfile=).  This is the same password path
#     that production uses, not a trust shortcut.
#   * the superuser "postgres" is reachable only by peer authentication from
#     the OS user that runs the cluster.
#   * the socket directory is mode 0700, owned by that user: other local
#     users cannot even reach the socket (root can, so escrowd run by root
#     connects).
# As root, the cluster runs as the unprivileged system user keyescrow-pg
# (created if missing), since PostgreSQL refuses to run as root.  If that
# user cannot reach DIR (e.g. a checkout under /root, mode 0700), the data
# and socket live under /var/lib/keyescrow-pg/<hash> and DIR/pg and DIR/run
# are symlinks to them.
#
# A crashed cluster is recovered on start: orphaned backends of a killed
# postmaster are stopped and a stale postmaster.pid is removed.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
DB=keyescrow
OWNER=keyescrow_owner
APP=keyescrow_app
PG_SYSUSER=keyescrow-pg

die() { echo "pg-local: $*" >&2; exit 1; }
say() { echo "pg-local: $*" >&2; }

cmd=${1:-}
[ $# -gt 0 ] && shift
VAR=$ROOT/var
FAST=0
MODE=fast
ROLE=owner
EXTRA=()
while [ $# -gt 0 ]; do
  case $1 in
    --dir) [ $# -ge 2 ] || die "--dir needs a directory"; VAR=$2; shift 2 ;;
    --dir=*) VAR=${1#--dir=}; shift ;;
    --fast) FAST=1; shift ;;
    --immediate) MODE=immediate; shift ;;
    admin|owner|app) if [ "$cmd" = psql ] && [ ${#EXTRA[@]} -eq 0 ]; then ROLE=$1; else EXTRA+=("$1"); fi; shift ;;
    *) if [ "$cmd" = psql ]; then EXTRA+=("$1"); shift; else die "unknown argument '$1'"; fi ;;
  esac
done

[ -x "$PGBIN/postgres" ] || die "PostgreSQL 15 not found in $PGBIN (run scripts/deps.sh)"
mkdir -p "$VAR"
VAR=$(cd "$VAR" && pwd -P)

if [ "$(id -u)" -eq 0 ]; then
  RUN_AS=$PG_SYSUSER
else
  RUN_AS=$(id -un)
fi

as_pg() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u "$PG_SYSUSER" -- "$@"; else "$@"; fi
}

ensure_sysuser() {
  [ "$(id -u)" -eq 0 ] || return 0
  id -u "$PG_SYSUSER" >/dev/null 2>&1 && return 0
  # Several test fixtures may start at once: serialise the creation.
  (
    flock 9
    id -u "$PG_SYSUSER" >/dev/null 2>&1 ||
      useradd --system --user-group --no-create-home --home-dir /nonexistent \
              --shell /usr/sbin/nologin --comment "keyescrow private PostgreSQL" "$PG_SYSUSER"
  ) 9>/run/keyescrow-pg-useradd.lock
}

# Decide where the data and the socket really live (see the header).
layout() {  # [create]
  local suffix=/run/.s.PGSQL.5432
  BASE=$VAR
  if [ -L "$VAR/pg" ]; then
    BASE=$(dirname "$(readlink -f "$VAR/pg")")
  elif [ "${1:-}" = create ] && [ ! -e "$VAR/pg" ] &&
       { ! as_pg test -x "$VAR" 2>/dev/null || [ $(( ${#VAR} + ${#suffix} )) -gt 100 ]; }; then
    BASE=/var/lib/keyescrow-pg/$(printf '%s' "$VAR" | sha256sum | cut -c1-16)
    [ "$(id -u)" -eq 0 ] || die "$VAR is unreachable for the cluster or too long for a socket path; use --dir"
    mkdir -p "$BASE"
    chmod 755 /var/lib/keyescrow-pg "$BASE"
    ln -sfn "$BASE/pg" "$VAR/pg"
    ln -sfn "$BASE/run" "$VAR/run"
    say "$VAR is not reachable by $PG_SYSUSER (or too long): data in $BASE"
  fi
  DATA=$BASE/pg
  RUNDIR=$BASE/run
  LOGDIR=$BASE/log
  AUTH=$VAR/pg-auth
}

# PIDs of processes of this cluster (postmaster and backends all have the
# data directory as their working directory).
cluster_pids() {
  local p exe cwd
  for p in /proc/[0-9]*; do
    exe=$(readlink "$p/exe" 2>/dev/null) || continue
    [ "$exe" = "$PGBIN/postgres" ] || continue
    cwd=$(readlink "$p/cwd" 2>/dev/null) || continue
    [ "$cwd" = "$DATA" ] && echo "${p#/proc/}"
  done
  return 0
}

postmaster_pid() {
  local pid
  [ -f "$DATA/postmaster.pid" ] || return 1
  pid=$(head -n1 "$DATA/postmaster.pid" 2>/dev/null) || return 1
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$PGBIN/postgres" ] || return 1
  [ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" = "$DATA" ] || return 1
  echo "$pid"
}

is_running() { postmaster_pid >/dev/null; }

recover_stale() {
  local pids n=0
  pids=$(cluster_pids)
  if [ -n "$pids" ]; then
    # Backends orphaned by a killed postmaster keep the shared memory busy
    # and would make the new postmaster refuse to start.
    say "stopping orphaned backends of a crashed cluster: $(echo $pids)"
    kill -KILL $pids 2>/dev/null || true
    while [ -n "$(cluster_pids)" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
  fi
  if [ -f "$DATA/postmaster.pid" ]; then
    say "removing stale $DATA/postmaster.pid"
    rm -f "$DATA/postmaster.pid"
  fi
  rm -f "$RUNDIR"/.s.PGSQL.*.lock
}

gen_password() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }

init_cluster() {
  say "creating cluster in $DATA"
  install -d -m 0700 -o "$RUN_AS" "$DATA"
  local nosync=()
  [ "$FAST" = 1 ] && nosync=(--no-sync)
  as_pg "$PGBIN/initdb" -D "$DATA" -U postgres --encoding=UTF8 --locale=C \
        --auth-local=peer --auth-host=reject "${nosync[@]}" >"$LOGDIR/initdb.log" 2>&1 ||
    { cat "$LOGDIR/initdb.log" >&2; die "initdb failed"; }
  as_pg tee "$DATA/pg_hba.conf" >/dev/null <<HBA
# keyescrow private cluster (scripts/pg-local.sh): Unix socket only.
# TYPE  DATABASE  USER                       METHOD
local   all       postgres                   peer map=admin
local   all       $OWNER,$APP   scram-sha-256
HBA
  as_pg tee "$DATA/pg_ident.conf" >/dev/null <<IDENT
# MAPNAME  SYSTEM-USERNAME  PG-USERNAME
admin      $RUN_AS          postgres
IDENT
  as_pg tee -a "$DATA/postgresql.conf" >/dev/null <<CONF

# ---- keyescrow private cluster (scripts/pg-local.sh) ----
include_if_exists = 'keyescrow.conf'
CONF
}

write_conf() {
  local durability="fsync = on"
  [ "$FAST" = 1 ] && durability=$'fsync = off\nsynchronous_commit = off\nfull_page_writes = off'
  as_pg tee "$DATA/keyescrow.conf" >/dev/null <<CONF
# Written by scripts/pg-local.sh on every start.
listen_addresses = ''
unix_socket_directories = '$RUNDIR'
unix_socket_permissions = 0700
port = 5432
password_encryption = scram-sha-256
max_connections = 100
log_line_prefix = '%m [%p] %q%u@%d '
log_connections = off
$durability
CONF
}

admin_psql() {
  as_pg "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$RUNDIR" -U postgres "$@"
}

bootstrap_roles() {
  install -d -m 0700 "$AUTH"
  [ -s "$AUTH/owner.password" ] || (umask 077; gen_password >"$AUTH/owner.password")
  [ -s "$AUTH/app.password" ] || (umask 077; gen_password >"$AUTH/app.password")
  local owner_pw app_pw
  owner_pw=$(cat "$AUTH/owner.password")
  app_pw=$(cat "$AUTH/app.password")
  (umask 077
   printf '*:*:*:%s:%s\n*:*:*:%s:%s\n' "$OWNER" "$owner_pw" "$APP" "$app_pw" >"$AUTH/pgpass.tmp"
   mv "$AUTH/pgpass.tmp" "$AUTH/pgpass")
  # Passwords travel on stdin as psql variables, never on a command line.
  admin_psql -d postgres -v owner="$OWNER" -v app="$APP" -v db="$DB" \
             -v owner_pw="$owner_pw" -v app_pw="$app_pw" <<'SQL'
SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'owner') AS need_owner \gset
\if :need_owner
  CREATE ROLE :"owner" LOGIN;
\endif
SELECT NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'app') AS need_app \gset
\if :need_app
  CREATE ROLE :"app" LOGIN;
\endif
ALTER ROLE :"owner" PASSWORD :'owner_pw';
ALTER ROLE :"app" PASSWORD :'app_pw';
SELECT NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'db') AS need_db \gset
\if :need_db
  CREATE DATABASE :"db" OWNER :"owner";
  REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
  GRANT CONNECT, TEMPORARY ON DATABASE :"db" TO :"app";
\endif
SQL
}

dsn() {  # role
  local user=$OWNER
  [ "$1" = app ] && user=$APP
  printf "host='%s' dbname=%s user=%s passfile='%s'" "$RUNDIR" "$DB" "$user" "$AUTH/pgpass"
}

do_start() {
  ensure_sysuser
  layout create
  install -d -m 0755 "$BASE"
  install -d -m 0700 -o "$RUN_AS" "$RUNDIR"
  install -d -m 0750 -o "$RUN_AS" "$LOGDIR"
  [ -f "$DATA/PG_VERSION" ] || init_cluster
  write_conf
  if is_running; then
    say "already running (pid $(postmaster_pid)), socket in $RUNDIR"
  else
    recover_stale
    as_pg "$PGBIN/pg_ctl" -D "$DATA" -l "$LOGDIR/postgresql.log" -w -t 60 -s start ||
      { tail -n 20 "$LOGDIR/postgresql.log" >&2; die "PostgreSQL did not start"; }
    say "started (pid $(postmaster_pid)), socket in $RUNDIR"
  fi
  bootstrap_roles
}

do_stop() {
  layout
  if is_running; then
    as_pg "$PGBIN/pg_ctl" -D "$DATA" -m "$MODE" -w -t 60 -s stop
    say "stopped ($MODE)"
  else
    [ -n "$(cluster_pids)" ] && recover_stale
    say "not running"
  fi
}

do_status() {
  layout
  if is_running; then
    echo "running: pid $(postmaster_pid), data $DATA, socket $RUNDIR"
    exit 0
  fi
  echo "stopped: data $DATA"
  exit 3
}

do_env() {
  layout
  [ -f "$AUTH/pgpass" ] || die "no cluster under $VAR yet: run '$0 start' first"
  printf 'export PGHOST=%q\n' "$RUNDIR"
  printf 'export PGDATABASE=%q\n' "$DB"
  printf 'export ESCROWD_DB_DSN=%q\n' "$(dsn app)"
  printf 'export ESCROWD_DB_OWNER_DSN=%q\n' "$(dsn owner)"
}

do_psql() {
  layout
  case $ROLE in
    admin) admin_psql -d "$DB" "${EXTRA[@]}" ;;
    *) "$PGBIN/psql" -X "$(dsn "$ROLE")" "${EXTRA[@]}" ;;
  esac
}

case $cmd in
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
  env) do_env ;;
  psql) do_psql ;;
  *) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
esac
