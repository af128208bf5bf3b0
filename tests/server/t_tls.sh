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

# Issue 12: HSTS, session resumption (tickets, TLS 1.2 and 1.3), the
# Mozilla "intermediate" suites, one answer to a bad Content-Length over
# TLS, and tls_priorities.
start_daemon tls2 "$KE_ESCROWD" ESCROWD_TLS_CERT_FILE="$TW/cert.pem" ESCROWD_TLS_KEY_FILE="$TW/key.pem" -- serve
P2=$PORT_tls2
http GET "https://127.0.0.1:$P2/healthz" --cacert "$TW/cert.pem"
expect_header '^Strict-Transport-Security: max-age=63072000' "HSTS on 200"
http GET "https://127.0.0.1:$P2/nope" --cacert "$TW/cert.pem"
expect_header '^Strict-Transport-Security: max-age=63072000' "HSTS on 404"
http GET "$MAIN/healthz"
grep -qi '^Strict-Transport-Security' "$HDRF" && fail "HSTS over plain HTTP"
ok "HSTS on every HTTPS answer, never over plain HTTP"

python3 - "$P2" "$TW/cert.pem" <<'PY' || fail "TLS resumption / suites / framing"
import re, socket, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]

def fetch(ctx, req, session=None):
    with socket.create_connection(("127.0.0.1", port)) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1", session=session) as s:
            s.sendall(req)
            data = b""
            s.settimeout(5)
            try:
                while True:
                    d = s.recv(4096)
                    if not d:
                        break
                    data += d
            except (ssl.SSLError, ConnectionResetError):
                pass
            return data, s.session, s.session_reused, s.version(), s.cipher()

get = b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
for ver, name in ((ssl.TLSVersion.TLSv1_2, "TLSv1.2"), (ssl.TLSVersion.TLSv1_3, "TLSv1.3")):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.minimum_version = ctx.maximum_version = ver
    data, sess, reused, v, _ = fetch(ctx, get)
    assert v == name and data.startswith(b"HTTP/1.1 200") and not reused, (v, data[:40])
    data, _, reused, _, _ = fetch(ctx, get, sess)
    assert data.startswith(b"HTTP/1.1 200") and reused, "%s session not resumed" % name
    print("ok: %s session resumed" % name)

# TLS 1.2: CBC and SHA-1 suites are refused; AES-GCM and ChaCha20 accepted.
for suite, want in (("ECDHE-ECDSA-AES128-SHA", False), ("ECDHE-ECDSA-AES256-SHA384", False),
                    ("ECDHE-ECDSA-AES128-GCM-SHA256", True),
                    ("ECDHE-ECDSA-CHACHA20-POLY1305", True)):
    ctx = ssl.create_default_context(cafile=ca)
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers(suite + ":@SECLEVEL=0")
    try:
        got = fetch(ctx, get)[4][0] == suite
    except ssl.SSLError:
        got = False
    assert got == want, "%s: accepted=%s" % (suite, got)
print("ok: TLS 1.2 CBC suites refused, AEAD suites accepted")

ctx = ssl.create_default_context(cafile=ca)
data = fetch(ctx, b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")[0]
assert re.findall(rb"HTTP/1\.1 (\d{3}) ", data) == [b"400"], data[:400]
assert b'"bad_request"' in data, data[:400]
print("ok: bad Content-Length over TLS answered once")
PY
ok "session tickets (TLS 1.2 and 1.3), intermediate suites only, one answer over TLS"
stop_daemon tls2

# tls_priorities: honoured (TLS 1.3 only refuses a TLS 1.2 client), and a
# bad string is a start-up error that names the key.
start_daemon tls13 "$KE_ESCROWD" ESCROWD_TLS_CERT_FILE="$TW/cert.pem" ESCROWD_TLS_KEY_FILE="$TW/key.pem" \
  ESCROWD_TLS_PRIORITIES='NORMAL:-VERS-ALL:+VERS-TLS1.3' -- serve
http GET "https://127.0.0.1:$PORT_tls13/healthz" --cacert "$TW/cert.pem" --tls-max 1.2
[ "$STATUS" = 000 ] || fail "TLS 1.2 accepted with a TLS 1.3-only tls_priorities"
http GET "https://127.0.0.1:$PORT_tls13/healthz" --cacert "$TW/cert.pem"
expect_status 200 "TLS 1.3 with tls_priorities"
stop_daemon tls13
rc=0
ESCROWD_CONFIG=/dev/null ESCROWD_SCHEMA_DIR="$KE_SRC/schema" ESCROWD_DB_DSN="$ESCROWD_DB_DSN" \
  ESCROWD_AUDIT_KEY_FILE="$FIX_WORK/audit-log.key" ESCROWD_PORT=0 \
  ESCROWD_TLS_CERT_FILE="$TW/cert.pem" ESCROWD_TLS_KEY_FILE="$TW/key.pem" \
  ESCROWD_TLS_PRIORITIES='NORMAL:+NO-SUCH-THING' \
  "$KE_ESCROWD" serve >"$TW/prio.log" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q 'tls_priorities is not a valid GnuTLS priority string' "$TW/prio.log" ||
  fail "bad tls_priorities ($rc)"
ok "tls_priorities honoured; a bad one refused at start"
