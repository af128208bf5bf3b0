#!/usr/bin/env bash
# t_tls_pin.sh - TLS pinning holds against the system store (issue 12).
#
# A "foreign" CA is added to the system trust store the way Debian does it:
# the certificate in /etc/ssl/certs with its OpenSSL subject-hash link (what
# update-ca-certificates / c_rehash make), which libcurl's compiled-in CA
# directory reads.  It is removed on exit, failure included.  Two TLS escrowd
# instances on one private database: "sys" with a certificate of the foreign
# CA, "pin" with a certificate of the CA the clients pin.  For escrowctl and
# escrow-agent:
#   - with nothing pinned the system store is used (so the foreign CA is
#     really trusted there: the refusals below are the pin's doing);
#   - with --cacert pinning the other CA, "sys" fails the handshake, also
#     when SSL_CERT_FILE, SSL_CERT_DIR and CURL_CA_BUNDLE name the foreign
#     CA; "pin" succeeds;
#   - a wrong --pin-sha256 fails, the right one (also among several)
#     succeeds, and the pin kept in the stored login / the agent state is
#     used by later commands.
# RUN_SERIAL in CTest (it changes a machine-wide store); the CA it adds is
# unique to this run and only adds trust, so a test running beside it anyway
# is not disturbed.
set -euo pipefail
. "$KE_SRC/tests/server/lib.sh"
. "$KE_SRC/tests/server/t_auth_lib.sh"
SYS_CERTS=/etc/ssl/certs
MARK=keyescrow-test-ca
if [ ! -w "$SYS_CERTS" ]; then
  echo "[$TEST_NAME] skipped: $SYS_CERTS is not writable (needs root)"
  exit 77
fi
load_fixture
make_private_db

# Leftovers of a run killed with SIGKILL (its trap could not run), but not
# those of a run still going (another build tree's suite, say).
for f in "$SYS_CERTS/$MARK"-*.pem; do
  [ -e "$f" ] || continue
  pid=${f##*-}
  pid=${pid%.pem}
  kill -0 "$pid" 2>/dev/null && continue
  for l in "$SYS_CERTS"/*; do
    if [ -L "$l" ] && [ "$(readlink "$l")" = "$(basename "$f")" ]; then rm -f "$l"; fi
  done
  rm -f "$f"
done

SYS_PEM=$SYS_CERTS/$MARK-$$.pem
SYS_LINK=""
remove_ca() {
  [ -n "$SYS_LINK" ] && rm -f "$SYS_LINK"
  rm -f "$SYS_PEM"
}
trap 'rc=$?; remove_ca; drop_private_db; (exit $rc); cleanup_test' EXIT
# A signal (ctest's timeout, ^C) still runs the EXIT trap.
trap 'exit 143' TERM INT HUP

W=$TW
PY=${PY:-python3}
ESCROWCTL=$KE_ESCROWCTL
# ca NAME: a CA and a server certificate for 127.0.0.1 signed by it.
ca() {
  local n=$1
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=keyescrow test $n CA $$-$RANDOM" -keyout "$W/$n-ca.key" -out "$W/$n-ca.pem" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign \
    >/dev/null 2>&1 || fail "CA $n"
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
    -keyout "$W/$n.key" -out "$W/$n.csr" >/dev/null 2>&1 || fail "CSR $n"
  printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' >"$W/$n.ext"
  openssl x509 -req -in "$W/$n.csr" -CA "$W/$n-ca.pem" -CAkey "$W/$n-ca.key" \
    -CAcreateserial -days 2 -extfile "$W/$n.ext" -out "$W/$n.pem" >/dev/null 2>&1 ||
    fail "certificate $n"
  chmod 600 "$W/$n.key"
}
spki() {  # CERT: base64 SHA-256 of its SubjectPublicKeyInfo
  openssl x509 -in "$1" -pubkey -noout | openssl pkey -pubin -outform der |
    openssl dgst -sha256 -binary | base64
}
ca foreign
ca pinned

# The foreign CA into the system store, with its hash link (first free slot).
cp "$W/foreign-ca.pem" "$SYS_PEM"
chmod 644 "$SYS_PEM"
h=$(openssl x509 -hash -noout -in "$SYS_PEM")
for i in 0 1 2 3 4 5 6 7 8 9; do
  # ln -s fails on an existing name: the slot is taken atomically.
  if ln -s "$(basename "$SYS_PEM")" "$SYS_CERTS/$h.$i" 2>/dev/null; then
    SYS_LINK=$SYS_CERTS/$h.$i
    break
  fi
done
[ -n "$SYS_LINK" ] || fail "no free hash slot for $h"
openssl verify -CApath "$SYS_CERTS" "$W/foreign.pem" >/dev/null 2>&1 ||
  fail "the foreign CA is not in the system store"
# A directory and a bundle naming the foreign CA, for the environment.
mkdir -p "$W/envdir"
cp "$W/foreign-ca.pem" "$W/envdir/ca.pem"
ln -s ca.pem "$W/envdir/$h.0"

start_private sys ESCROWD_TLS_CERT_FILE="$W/foreign.pem" ESCROWD_TLS_KEY_FILE="$W/foreign.key"
start_private pin ESCROWD_TLS_CERT_FILE="$W/pinned.pem" ESCROWD_TLS_KEY_FILE="$W/pinned.key"
SYS=https://127.0.0.1:$PORT_sys
PIN=https://127.0.0.1:$PORT_pin
GOOD=$(spki "$W/pinned.pem")
WRONG=$(spki "$W/foreign.pem")
[ "$GOOD" != "$WRONG" ] || fail "two keys with one pin"

export HOME=$W
unset XDG_CONFIG_HOME ESCROWCTL_SERVER ESCROWCTL_CACERT ESCROWCTL_PIN_SHA256 ESCROWCTL_LOG_KEY
unset SSL_CERT_FILE SSL_CERT_DIR CURL_CA_BUNDLE
mint_user "$PRIV_APP_DSN" admin1 admin
ESCROWCTL_TOKEN=$(mint_token "$PRIV_APP_DSN" admin1)
export ESCROWCTL_TOKEN

# ctl EXPECTED_RC WHAT ARGS...: escrowctl user list, with its exit status.
ctl() {
  local want=$1 what=$2 rc=0
  shift 2
  "$KE_ESCROWCTL" user list "$@" >"$W/ctl.out" 2>"$W/ctl.err" || rc=$?
  [ "$rc" = "$want" ] || fail "escrowctl ($what): exit $rc, not $want: $(cat "$W/ctl.err")"
}
ctl 0 "system store, nothing pinned" --server "$SYS"
ctl 4 "foreign CA while another is pinned" --server "$SYS" --cacert "$W/pinned-ca.pem"
grep -qi 'certificate\|SSL' "$W/ctl.err" || fail "not a certificate failure: $(cat "$W/ctl.err")"
ESCROWCTL_CACERT=$W/pinned-ca.pem ctl 4 "ESCROWCTL_CACERT" --server "$SYS"
SSL_CERT_FILE=$W/foreign-ca.pem SSL_CERT_DIR=$W/envdir CURL_CA_BUNDLE=$W/foreign-ca.pem \
  ctl 4 "SSL_CERT_FILE/SSL_CERT_DIR/CURL_CA_BUNDLE name the foreign CA" \
  --server "$SYS" --cacert "$W/pinned-ca.pem"
ctl 0 "the pinned CA" --server "$PIN" --cacert "$W/pinned-ca.pem"
ctl 4 "the pinned CA is the only one: not the system store's" --server "$PIN"
ctl 4 "a wrong --pin-sha256" --server "$PIN" --cacert "$W/pinned-ca.pem" --pin-sha256 "$WRONG"
ctl 0 "the right --pin-sha256" --server "$PIN" --cacert "$W/pinned-ca.pem" --pin-sha256 "$GOOD"
ctl 0 "the right pin among two, sha256// form" --server "$PIN" --cacert "$W/pinned-ca.pem" \
  --pin-sha256 "sha256//$WRONG;$GOOD"
ctl 4 "a pin is checked on top of the system store too" --server "$SYS" --pin-sha256 "$GOOD"
ESCROWCTL_PIN_SHA256=$WRONG ctl 4 "ESCROWCTL_PIN_SHA256" --server "$PIN" --cacert "$W/pinned-ca.pem"
ctl 2 "a malformed pin" --server "$PIN" --pin-sha256 "${GOOD:0:20}"
ctl 2 "a pin for plain http" --server "http://127.0.0.1:$PORT_pin" --pin-sha256 "$GOOD"
ok "escrowctl: --cacert is the only CA (environment ignored), --pin-sha256 holds"

# The login keeps the pin, and later commands use it.
printf 'first password 1234\n' >"$W/pw1"
printf 'second password 5678\n' >"$W/pw2"
"$KE_ESCROWCTL" user add bob --role admin --password-file "$W/pw1" --server "$PIN" \
  --cacert "$W/pinned-ca.pem" >/dev/null 2>"$W/ctl.err" || fail "user add: $(cat "$W/ctl.err")"
unset ESCROWCTL_TOKEN
"$KE_ESCROWCTL" login --server "$PIN" --user bob --password-file "$W/pw1" \
  --new-password-file "$W/pw2" --cacert "$W/pinned-ca.pem" --pin-sha256 "$GOOD" \
  >/dev/null 2>"$W/ctl.err" || fail "login: $(cat "$W/ctl.err")"
LOGIN=$W/.config/escrowctl/login.json
python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["pin_sha256"] == "sha256//" + sys.argv[2]' \
  "$LOGIN" "$GOOD" || fail "the login does not keep the pin"
ctl 0 "the stored login's pin"
python3 - "$LOGIN" "$WRONG" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d["pin_sha256"] = "sha256//" + sys.argv[2]
json.dump(d, open(sys.argv[1], "w"))
PY
ctl 4 "a wrong pin in the stored login"
ok "escrowctl login keeps --pin-sha256 for later commands"

# ---- escrow-agent -----------------------------------------------------------------
export ESCROW_AGENT_SYSLOG=0
ESCROWCTL_TOKEN=$(mint_token "$PRIV_APP_DSN" admin1)
export ESCROWCTL_TOKEN ESCROWCTL_SERVER=$PIN ESCROWCTL_CACERT=$W/pinned-ca.pem
rm -f "$LOGIN"
. "$KE_SRC/tests/agent/agent_funcs.sh"
SD=$W/state
FPR=$(ceremony "$W/key")
"$KE_ESCROWCTL" escrow-key publish --manifest "$W/key/escrow-key.json" --fingerprint "$FPR" \
  >/dev/null 2>"$W/ctl.err" || fail "escrow-key publish: $(cat "$W/ctl.err")"
ENROLL=$("$KE_ESCROWCTL" enroll-token create --group lab --uses 5 --expires 1h 2>"$W/ctl.err") ||
  fail "enroll-token create: $(cat "$W/ctl.err")"
http GET "$PIN/v1/audit/key" --cacert "$W/pinned-ca.pem"
LOGKEY=$(json_get verifier_key)
BOGUS=ket_$(printf 'A%.0s' $(seq 1 43))
# agen EXPECTED_RC WHAT SERVER TOKEN ARGS...: one enrolment attempt.
agen() {
  local want=$1 what=$2 srv=$3 tok=$4
  shift 4
  rm -rf "$SD"
  ag enroll --server "$srv" --token "$tok" --escrow-fingerprint "$FPR" --log-key "$LOGKEY" \
    --retries 1 "$@"
  [ "$RC" = "$want" ] || fail "escrow-agent ($what): exit $RC, not $want"
}
# A bogus token: a completed TLS handshake ends in 401 (exit 3), a refused
# one never reaches the server (exit 4).
agen 3 "system store, nothing pinned" "$SYS" "$BOGUS"
agen 4 "foreign CA while another is pinned" "$SYS" "$BOGUS" --cacert "$W/pinned-ca.pem"
expect_err 'SSL|certificate'
SSL_CERT_FILE=$W/foreign-ca.pem SSL_CERT_DIR=$W/envdir CURL_CA_BUNDLE=$W/foreign-ca.pem \
  agen 4 "SSL_CERT_FILE/SSL_CERT_DIR/CURL_CA_BUNDLE" "$SYS" "$BOGUS" --cacert "$W/pinned-ca.pem"
agen 3 "the pinned CA" "$PIN" "$BOGUS" --cacert "$W/pinned-ca.pem"
agen 4 "a wrong --pin-sha256" "$PIN" "$BOGUS" --cacert "$W/pinned-ca.pem" --pin-sha256 "$WRONG"
agen 2 "a malformed --pin-sha256" "$PIN" "$BOGUS" --pin-sha256 "x;$GOOD"
agen 2 "a pin for plain http" "http://127.0.0.1:$PORT_pin" "$BOGUS" --pin-sha256 "$GOOD"
agen 0 "the right --pin-sha256" "$PIN" "$ENROLL" --cacert "$W/pinned-ca.pem" \
  --pin-sha256 "$WRONG;$GOOD"
[ "$(stq "s['pin_sha256']")" = "sha256//$WRONG;sha256//$GOOD" ] || fail "the pin is not kept"
ag checkin --retries 1
expect_rc 0 "check-in with the kept CA and pin"
"$PY" - "$SD/state.json" "$WRONG" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d["pin_sha256"] = "sha256//" + sys.argv[2]
json.dump(d, open(sys.argv[1], "w"))
PY
ag checkin --retries 1
expect_rc 4 "check-in with a wrong kept pin"
ok "escrow-agent: --cacert is the only CA (environment ignored), --pin-sha256 kept and held"
