#!/usr/bin/env bash
# Message framing, on raw sockets: a request with both Content-Length and
# Transfer-Encoding (or a repeated one) gets one 400 and a closed
# connection, whatever is pipelined after it; a bad Content-Length (and a
# missing Host) gets exactly one answer, not libmicrohttpd 0.9.75's doubled
# status line and headers; every 503 carries Retry-After.
. "$(dirname "$0")/lib.sh"
load_fixture
: "${KE_TESTD:?}"

start_daemon testd "$KE_TESTD" ESCROWD_MAX_BODY_BYTES=4096
T=$PORT_testd

python3 - "$T" "${MAIN##*:}" <<'PY' || fail "framing"
import json, re, socket, sys

testd, main = int(sys.argv[1]), int(sys.argv[2])

def exchange(port, data):
    """Send `data`, read until the server closes (or 5 s pass)."""
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(data)
    s.settimeout(5)
    out = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                return out, True
            out += d
    except socket.timeout:
        return out, False
    except ConnectionResetError:
        return out, True

def answers(out):
    return re.findall(rb"HTTP/1\.1 (\d{3}) ", out)

def one_error(port, data, status, code, what):
    out, closed = exchange(port, data)
    got = answers(out)
    assert got == [status.encode()], "%s: status lines %r in %r" % (what, got, out[:400])
    head, _, body = out.partition(b"\r\n\r\n")
    assert re.search(rb"(?mi)^Connection: close\r?$", head), "%s: no Connection: close" % what
    assert re.search(rb"(?mi)^Content-Type: application/json\r?$", head), "%s: not JSON" % what
    err = json.loads(body)["error"]
    assert err["code"] == code and err["message"], (what, err)
    assert closed, "%s: connection left open" % what
    print("ok: %s -> %s %s, closed" % (what, status, code))

pipelined = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
cases = [
    (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
     b"Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", "CL + TE"),
    (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
     b"Transfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n{}", "TE + CL"),
    (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
     b"Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}", "two Content-Length"),
    (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
     b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
     "two Transfer-Encoding"),
    (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
     b"Transfer-Encoding: gzip, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", "TE gzip, chunked"),
    (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
     b"Content-Length: 2\r\nTransfer-Encoding : chunked\r\n\r\n{}", "space before colon"),
]
for req, what in cases:
    # The pipelined request must never be answered: the connection closes.
    one_error(testd, req + pipelined, "400", "bad_request", what + " (testd)")
one_error(main, cases[0][0].replace(b"/echo", b"/v1/login") + pipelined, "400", "bad_request",
          "CL + TE (escrowd)")

# Unambiguous framing still works, pipelining included.
out, _ = exchange(testd, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n" +
                  b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
assert answers(out) == [b"200", b"200"], out[:400]
print("ok: chunked alone, then a pipelined request: both answered")

# Errors libmicrohttpd finds in the header block: one answer each.
for cl in (b"abc", b"-1", b"1x", b"+5", b""):
    one_error(testd, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: " + cl + b"\r\n\r\n"
              + pipelined, "400", "bad_request", "Content-Length %r" % cl)
one_error(testd, b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n",
          "413", "payload_too_large", "Content-Length beyond 64 bits")
one_error(main, b"GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
          "400", "bad_request", "Content-Length abc (escrowd)")
one_error(testd, b"GET /healthz HTTP/1.1\r\n\r\n", "400", "bad_request", "HTTP/1.1 without Host")
PY
ok "ambiguous framing refused and closed; header-block errors answered once"

# Retry-After on 503 (srv_testd has no database: /readyz is 503).
http GET "http://127.0.0.1:$T/readyz"
expect_status 503 "/readyz without a database"
expect_error db_unavailable "/readyz without a database"
expect_header '^Retry-After: 5' "503 Retry-After"
http GET "http://127.0.0.1:$T/healthz"
grep -qi '^Retry-After' "$HDRF" && fail "Retry-After on a 200"
ok "503 carries Retry-After"

expect_serving "http://127.0.0.1:$T" "hostile framing"
stop_daemon testd
ok "stopped cleanly"
