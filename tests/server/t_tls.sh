#!/usr/bin/env bash
# HTTPS served by escrowd itself (tls_cert_file / tls_key_file).
. "$(dirname "$0")/lib.sh"
load_fixture

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$TW/key.pem" -out "$TW/cert.pem" >/dev/null 2>&1 || fail "openssl req"

start_daemon tls "$KE_ESCROWD" ESCROWD_TLS_CERT_FILE="$TW/cert.pem" ESCROWD_TLS_KEY_FILE="$TW/key.pem" -- serve
grep -q '"tls":true' "$TW/tls.log" || fail "listening line does not say tls"
http GET "https://127.0.0.1:$PORT_tls/readyz" --cacert "$TW/cert.pem"
expect_status 200 "HTTPS /readyz"
http GET "https://127.0.0.1:$PORT_tls/nope" --cacert "$TW/cert.pem"
expect_status 404 "HTTPS 404"
expect_error not_found "HTTPS 404"
http GET "https://127.0.0.1:$PORT_tls/healthz" --cacert "$TW/cert.pem" --tls-max 1.1
[ "$STATUS" = 000 ] || fail "TLS 1.1 accepted"
http GET "http://127.0.0.1:$PORT_tls/healthz"
[ "$STATUS" != 200 ] || fail "plain HTTP answered on the TLS port"
http GET "https://127.0.0.1:$PORT_tls/healthz" --cacert "$TW/cert.pem"
expect_status 200 "still serving"
ok "HTTPS with TLS >= 1.2; plain HTTP and TLS 1.1 refused"
stop_daemon tls

rc=0
ESCROWD_CONFIG=/dev/null ESCROWD_TLS_CERT_FILE="$TW/cert.pem" "$KE_ESCROWD" serve >"$TW/half.log" 2>&1 || rc=$?
[ $rc -eq 2 ] && grep -q 'must be set together' "$TW/half.log" || fail "cert without key accepted ($rc)"
rc=0
ESCROWD_CONFIG=/dev/null ESCROWD_SCHEMA_DIR="$KE_SRC/schema" ESCROWD_DB_DSN="$ESCROWD_DB_DSN" \
  ESCROWD_AUDIT_KEY_FILE="$FIX_WORK/audit-log.key" \
  ESCROWD_PORT=0 ESCROWD_TLS_CERT_FILE="$TW/missing.pem" ESCROWD_TLS_KEY_FILE="$TW/key.pem" \
  "$KE_ESCROWD" serve >"$TW/missing.log" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q 'cannot read TLS' "$TW/missing.log" || fail "missing cert file ($rc)"
ok "incomplete or unreadable TLS settings refused"
