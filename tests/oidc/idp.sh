#!/usr/bin/env bash
# idp.sh - the test OpenID Connect provider: Debian's glewlwyd on loopback.
#
#   idp.sh start WORKDIR    SQLite database from glewlwyd's own schema, a
#                           test CA'd TLS certificate for 127.0.0.1, a config
#                           file, glewlwyd in the background; once it answers,
#                           idp.py provisions it through the admin API (OTP
#                           scheme, scopes openid/mfa, the oidc plugin, the
#                           clients keyescrow/keyescrow-cli, users alice,
#                           carol, adam).  Writes WORKDIR/idp.env.
#   idp.sh stop WORKDIR     SIGTERM, and wait for the exit
#   idp.sh redirect WORKDIR URI...   set the clients' redirect URIs (escrowd's
#                           port is known only after it started)
#
# Environment: IDP_REDIRECT_URIS (space-separated) for the clients at start.
# WORKDIR/idp.env (shell syntax): IDP_URL, IDP_ISSUER, IDP_CA, IDP_PORT,
# IDP_CLIENT_ID, IDP_CLIENT_SECRET, IDP_CLI_CLIENT_ID, IDP_PASSWORD,
# IDP_TOTP_CAROL, IDP_TOTP_ADAM.  See docs/hacking.md, "The test IdP".
set -euo pipefail

IDP_HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
RUN_BG=$IDP_HERE/../server/run_bg.sh
SCHEMA=/usr/share/doc/glewlwyd/database/init.sqlite3.sql.gz
WEBAPP=/usr/share/glewlwyd/webapp

idp_die() { echo "idp.sh: $*" >&2; exit 1; }

idp_free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# The login, admin and profile pages are glewlwyd's own webapp.  Debian's
# webapp/config.json is a dangling link (to /etc/glewlwyd/config-2.7.json,
# which dpkg made a directory): serve a copy of the tree with the template.
# A copy, not links: glewlwyd's static file server answers 404 for a link
# that leads out of static_files_path.
idp_webapp() {
  local w=$1/webapp
  rm -rf "$w"
  mkdir -p "$w"
  (cd "$WEBAPP" && find . -mindepth 1 -maxdepth 1 ! -name config.json -exec cp -rL {} "$w/" \;)
  cp /usr/share/glewlwyd/templates/config.json "$w/config.json"
}

idp_conf() {  # WORKDIR PORT
  local w=$1 port=$2
  cat >"$w/glewlwyd.conf" <<EOF
port=$port
bind_address="127.0.0.1"
external_url="https://127.0.0.1:$port"
login_url="login.html"
static_files_path="$w/webapp/"
api_prefix="api"
allow_origin="*"
log_mode="console"
log_level="${IDP_LOG_LEVEL:-INFO}"
cookie_secure=1
cookie_same_site="empty"
session_expiration=3600
session_key="GLEWLWYD2_SESSION_ID"
admin_session_authentication="cookie"
profile_session_authentication="cookie"
allow_multiple_user_per_session=true
login_api_enabled=true
admin_scope="g_admin"
profile_scope="g_profile"
user_module_path="/usr/lib/glewlwyd/user"
client_module_path="/usr/lib/glewlwyd/client"
user_auth_scheme_module_path="/usr/lib/glewlwyd/scheme"
plugin_module_path="/usr/lib/glewlwyd/plugin"
use_secure_connection=true
secure_connection_key_file="$w/tls-key.pem"
secure_connection_pem_file="$w/tls-cert.pem"
hash_algorithm="SHA512"
database = { type = "sqlite3"; path = "$w/glewlwyd.db"; };
static_files_mime_types = (
  { extension = ".html"; mime_type = "text/html"; },
  { extension = ".css"; mime_type = "text/css"; },
  { extension = ".js"; mime_type = "application/javascript"; },
  { extension = ".json"; mime_type = "application/json"; },
  { extension = ".png"; mime_type = "image/png"; },
  { extension = ".ico"; mime_type = "image/x-icon"; },
  { extension = ".woff2"; mime_type = "font/woff2"; },
  { extension = ".woff"; mime_type = "font/woff"; },
  { extension = ".ttf"; mime_type = "font/ttf"; }
);
EOF
}

# Wait until glewlwyd answers /config/ over TLS, or exits.  0 when serving,
# 2 when it exited because the port was taken (the caller picks another).
idp_wait() {  # WORKDIR PORT
  local w=$1 port=$2
  for _ in $(seq 1 200); do
    if curl -s --max-time 2 --cacert "$w/tls-cert.pem" -o /dev/null \
         "https://127.0.0.1:$port/config/"; then
      return 0
    fi
    if [ -f "$w/glewlwyd.rc" ]; then
      grep -q 'Address already in use\|Error starting glewlwyd webserver' "$w/glewlwyd.log" && return 2
      idp_die "glewlwyd exited ($(cat "$w/glewlwyd.rc")): $(tail -n 20 "$w/glewlwyd.log")"
    fi
    sleep 0.05
  done
  idp_die "glewlwyd did not answer on port $port: $(tail -n 20 "$w/glewlwyd.log")"
}

idp_start() {  # WORKDIR
  local w port try rc=2
  command -v glewlwyd >/dev/null || idp_die "glewlwyd missing: run scripts/deps.sh"
  [ -r "$SCHEMA" ] || idp_die "$SCHEMA missing: run scripts/deps.sh"
  mkdir -p "$1"
  w=$(cd "$1" && pwd)
  rm -f "$w/glewlwyd.db" "$w/idp.env"
  zcat "$SCHEMA" | sqlite3 "$w/glewlwyd.db" || idp_die "sqlite3: schema"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$w/tls-key.pem" -out "$w/tls-cert.pem" >/dev/null 2>&1 || idp_die "openssl req"
  # The id_token signing key (RS256).
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$w/sign-key.pem" 2>/dev/null \
    || idp_die "openssl genpkey"
  openssl pkey -in "$w/sign-key.pem" -pubout -out "$w/sign-pub.pem" || idp_die "openssl pkey"
  idp_webapp "$w"
  # A free port is taken between the probe and glewlwyd's bind at times:
  # glewlwyd has no port 0, so try again with another.
  for try in 1 2 3; do
    port=$(idp_free_port)
    idp_conf "$w" "$port"
    : >"$w/glewlwyd.log"
    rm -f "$w/glewlwyd.pid" "$w/glewlwyd.rc"
    setsid "$RUN_BG" "$w/glewlwyd.pid" "$w/glewlwyd.rc" "$w/glewlwyd.log" \
      glewlwyd --config-file="$w/glewlwyd.conf" </dev/null >/dev/null 2>&1 &
    rc=0
    idp_wait "$w" "$port" || rc=$?
    [ $rc = 0 ] && break
  done
  [ $rc = 0 ] || idp_die "no free port for glewlwyd after $try tries"
  cat >"$w/idp.env" <<EOF
IDP_URL='https://127.0.0.1:$port'
IDP_PORT='$port'
IDP_CA='$w/tls-cert.pem'
IDP_REDIRECT_URIS='${IDP_REDIRECT_URIS:-}'
EOF
  python3 "$IDP_HERE/idp.py" provision "$w" || { idp_stop "$w"; idp_die "provisioning failed"; }
}

idp_stop() {  # WORKDIR
  local w=$1
  [ -f "$w/glewlwyd.pid" ] || return 0
  [ -f "$w/glewlwyd.rc" ] || kill -TERM "$(cat "$w/glewlwyd.pid")" 2>/dev/null || true
  for _ in $(seq 1 200); do
    [ -f "$w/glewlwyd.rc" ] && return 0
    sleep 0.05
  done
  kill -KILL "$(cat "$w/glewlwyd.pid")" 2>/dev/null || true
  idp_die "glewlwyd did not exit on SIGTERM"
}

# Sourced by a test, idp.sh only defines idp_start / idp_stop.
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  case "${1:-}" in
    start) [ $# = 2 ] || idp_die "usage: idp.sh start WORKDIR"; idp_start "$2" ;;
    stop) [ $# = 2 ] || idp_die "usage: idp.sh stop WORKDIR"; idp_stop "$2" ;;
    redirect) [ $# -ge 3 ] || idp_die "usage: idp.sh redirect WORKDIR URI..."
              python3 "$IDP_HERE/idp.py" redirect "$2" "${@:3}" ;;
    *) idp_die "usage: idp.sh start|stop|redirect WORKDIR [URI...]" ;;
  esac
fi
