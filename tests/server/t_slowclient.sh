#!/usr/bin/env bash
# Slow clients (slowloris) are dropped after connection_timeout while other
# clients are served; per-IP connection limits hold.
. "$(dirname "$0")/lib.sh"
load_fixture

start_daemon slow "$KE_ESCROWD" ESCROWD_CONNECTION_TIMEOUT=2 ESCROWD_PER_IP_CONNECTION_LIMIT=4 -- serve
P=$PORT_slow
B=http://127.0.0.1:$P

# Half a request line and headers, then silence.
exec 3<>"/dev/tcp/127.0.0.1/$P"
printf 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ' >&3
# Headers done, half of an announced body.
exec 4<>"/dev/tcp/127.0.0.1/$P"
printf 'POST /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123456789' >&4
http GET "$B/healthz"
expect_status 200 "while two slow clients hang"
ok "others served while slow clients stall"

start=$(date +%s)
rc=0; read -r -t 10 line <&3 || rc=$?
[ $rc -eq 1 ] || fail "slow header client not disconnected (read status $rc)"
rc=0; read -r -t 10 line <&4 || rc=$?
# The slow body client may get an answer (405) before the close, or none.
while [ $rc -eq 0 ]; do rc=0; read -r -t 10 line <&4 || rc=$?; done
[ $rc -eq 1 ] || fail "slow body client not disconnected (read status $rc)"
elapsed=$(( $(date +%s) - start ))
[ $elapsed -le 8 ] || fail "slow clients dropped only after ${elapsed}s"
exec 3<&- 4<&-
expect_serving "$B" "slow clients"
ok "slow clients dropped after the timeout"

# per_ip_connection_limit = 4: four idle connections, the fifth is refused.
for fd in 5 6 7 8; do eval "exec $fd<>/dev/tcp/127.0.0.1/$P"; done
sleep 0.2
http GET "$B/healthz"
[ "$STATUS" = 000 ] || fail "fifth connection from one IP got HTTP $STATUS"
exec 5<&- 6<&- 7<&- 8<&-
sleep 0.3
expect_serving "$B" "the per-IP limit"
ok "per-IP connection limit enforced, then released"

stop_daemon slow
ok "stopped cleanly"
