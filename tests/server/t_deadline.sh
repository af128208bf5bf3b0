#!/usr/bin/env bash
# request_deadline: 64 connections from one address that trickle a request
# (one byte a second, never finishing) fill per_ip_connection_limit, yet a
# fresh client from that address is served during the trickle (the oldest
# trickler makes room), and every trickler is cut at the deadline although
# connection_timeout (inactivity) never fires.
. "$(dirname "$0")/lib.sh"
load_fixture

DEADLINE=4
start_daemon dl "$KE_ESCROWD" ESCROWD_CONNECTION_TIMEOUT=60 ESCROWD_REQUEST_DEADLINE=$DEADLINE \
  ESCROWD_PER_IP_CONNECTION_LIMIT=64 ESCROWD_CONNECTION_LIMIT=256 -- serve
P=$PORT_dl

python3 - "$P" "$DEADLINE" <<'PY' || fail "trickle"
import select, socket, subprocess, sys, time

port, deadline = int(sys.argv[1]), float(sys.argv[2])
N = 64
head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Trickle: "
socks, opened, closed_at = [], {}, {}
for i in range(N):
    s = socket.create_connection(("127.0.0.1", port))
    s.setblocking(False)
    socks.append(s)
    opened[s] = time.monotonic()

def pump(until):
    """Send one byte a second on every live trickler; note when the server
    closes one (EOF or reset on read, or a failed send)."""
    sent = {}
    while time.monotonic() < until:
        live = [s for s in socks if s not in closed_at]
        if not live:
            return
        r, _, _ = select.select(live, [], [], 0.1)
        now = time.monotonic()
        for s in r:
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            assert not data, "a trickler got an answer: %r" % data[:80]
            closed_at[s] = now
        for s in live:
            if s in closed_at or now - sent.get(s, 0) < 1.0:
                continue
            try:
                s.send(head if s not in sent else b"a")
            except OSError:
                closed_at[s] = now
            sent[s] = now

# Let every trickler get older than the eviction grace (1 s), then a fresh
# client from the same address must be served while they all trickle.
pump(time.monotonic() + 1.5)
assert not closed_at, "%d tricklers cut before the deadline" % len(closed_at)
t0 = time.monotonic()
out = subprocess.run(["curl", "-sS", "--max-time", "5", "-o", "/dev/null", "-w", "%{http_code}",
                      "http://127.0.0.1:%d/healthz" % port], capture_output=True, text=True)
assert out.stdout == "200", "fresh client during the trickle: %r %r" % (out.stdout, out.stderr)
assert time.monotonic() < min(opened.values()) + deadline - 0.3, \
    "fresh client served only after %.2f s, not during the trickle" % (time.monotonic() - t0)
# Exactly one trickler (the oldest) was dropped to make room for it.
pump(time.monotonic() + 0.5)
early = len(closed_at)
assert early == 1, "%d tricklers dropped for one fresh client" % early
# The others are cut at the deadline, not before, and none survives it.
pump(min(opened.values()) + deadline + 2.5)
assert len(closed_at) == N, "%d of %d tricklers still open after the deadline" % (
    N - len(closed_at), N)
ages = sorted(closed_at[s] - opened[s] for s in socks)
assert ages[1] >= deadline - 0.3, "a trickler was cut after %.2f s" % ages[1]
assert ages[-1] <= deadline + 1.5, "a trickler was cut only after %.2f s" % ages[-1]
print("tricklers cut after %.2f..%.2f s (deadline %g s)" % (ages[1], ages[-1], deadline))
PY
ok "64 trickling connections cut at the request deadline; a fresh client served meanwhile"

grep -q '"reason":"request_deadline"' "$TW/dl.log" || fail "no request_deadline log line"
grep -q '"reason":"per_ip_connection_limit: oldest incomplete request dropped"' "$TW/dl.log" ||
  fail "no eviction log line"
expect_serving "http://127.0.0.1:$P" "the trickle"
http GET "http://127.0.0.1:$P/metrics"
grep -Eq '^escrowd_http_connections_closed_total\{reason="request_deadline"\} 6[3-9]$' "$BODYF" ||
  fail "metrics: deadline cuts $(grep connections_closed "$BODYF")"
grep -Eq '^escrowd_http_connections_closed_total\{reason="per_ip_evicted"\} 1$' "$BODYF" ||
  fail "metrics: evictions $(grep connections_closed "$BODYF")"

# A slow but honest request completes within the deadline: the deadline
# does not apply to its handling, nor to a keep-alive connection's answers.
python3 - "$P" <<'PY' || fail "slow honest request"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
for part in (b"GET /healthz HTTP/1.1\r\n", b"Host: x\r\n", b"\r\n"):
    s.sendall(part)
    time.sleep(0.5)
s.settimeout(5)
buf = b""
while b'{"status":"ok"}' not in buf:
    d = s.recv(4096)
    assert d, "closed before the answer: %r" % buf
    buf += d
assert buf.startswith(b"HTTP/1.1 200"), buf[:80]
PY
ok "a request sent slowly but within the deadline is answered"
stop_daemon dl
ok "stopped cleanly"
