#!/usr/bin/env bash
# HTTP behaviour of the real escrowd: endpoints, error model, bad input.
. "$(dirname "$0")/lib.sh"
load_fixture

http GET "$MAIN/healthz"
expect_status 200 /healthz
[ "$(json_get status)" = ok ] || fail "/healthz body"
expect_header '^X-Request-Id: [0-9a-f]{32}' "request id header"
expect_header '^Content-Type: application/json' "json content type"
ok "/healthz 200 with X-Request-Id"

http GET "$MAIN/readyz"
expect_status 200 /readyz
[ "$(json_get status)" = ready ] || fail "/readyz body"
[ "$(json_get schema_version)" -ge 1 ] || fail "/readyz schema_version"
ok "/readyz 200"

http HEAD "$MAIN/healthz" -I
expect_status 200 "HEAD /healthz"
ok "HEAD served by the GET route"

http GET "$MAIN/no/such/thing"
expect_status 404 "unknown route"
expect_error not_found "unknown route"
http GET "$MAIN/healthz/"
expect_status 404 "trailing slash"
expect_error not_found "trailing slash"
ok "unknown routes: 404 JSON"

http POST "$MAIN/healthz" -H 'Content-Type: application/json' --data '{"a":1}'
expect_status 405 "POST /healthz"
expect_error method_not_allowed "POST /healthz"
expect_header '^Allow: GET, HEAD' "Allow header"
http DELETE "$MAIN/readyz"
expect_status 405 "DELETE /readyz"
expect_error method_not_allowed "DELETE /readyz"
ok "wrong method: 405 JSON with Allow"

# Malformed JSON and other garbage bodies on an existing path never get a
# 500: the method check comes first (escrowd has no JSON route yet; JSON
# parsing itself is covered by t_body against srv_testd).
http POST "$MAIN/readyz" -H 'Content-Type: application/json' --data '{"a":'
expect_status 405 "malformed JSON to /readyz"
expect_error method_not_allowed "malformed JSON to /readyz"
http PUT "$MAIN/metrics" --data-binary $'\x00\xff\xfe garbage'
expect_status 405 "binary garbage to /metrics"
expect_error method_not_allowed "binary garbage"
ok "garbage bodies: 405 JSON"

head -c 2000000 /dev/zero >"$TW/big"
http POST "$MAIN/healthz" -H 'Content-Type: application/json' --data-binary @"$TW/big"
expect_status 413 "2 MB body"
expect_error payload_too_large "2 MB body"
http GET "$MAIN/healthz" -H 'Content-Length: 5000000'
expect_status 413 "announced 5 MB"
expect_error payload_too_large "announced 5 MB"
# A Content-Length beyond 64 bits is refused by libmicrohttpd itself, before
# escrowd's handler sees the request; srv_conn.c answers it (t_framing).
http GET "$MAIN/healthz" -H 'Content-Length: 99999999999999999999'
expect_status 413 "absurd Content-Length"
ok "huge bodies: 413 JSON"

# Requests that are not HTTP at all: the connection is closed, the server
# keeps serving.
printf 'THIS IS NOT HTTP\r\n\r\n' | timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/${MAIN##*:}; cat >&3; cat <&3" >/dev/null || true
expect_serving "$MAIN" "a non-HTTP request"
long=$(head -c 20000 /dev/zero | tr '\0' a)
http GET "$MAIN/$long"
[ "$STATUS" != 200 ] && [ "$STATUS" != 500 ] || fail "20 kB URL got $STATUS"
expect_serving "$MAIN" "a 20 kB URL"
ok "non-HTTP input and oversize URLs: no crash"

# A caller's X-Request-Id is logged beside ours, never instead of it.
http GET "$MAIN/healthz" -H 'X-Request-Id: caller-abc.123'
expect_header '^X-Request-Id: [0-9a-f]{32}' "own request id"
ok "client request id kept apart"

http GET "$MAIN/metrics"
expect_status 200 /metrics
expect_header '^Content-Type: text/plain; version=0.0.4' "Prometheus content type"
for series in \
  'escrowd_http_requests_total{route="/healthz",code="200"} [0-9]+' \
  'escrowd_http_requests_total{route="unmatched",code="404"} [0-9]+' \
  'escrowd_http_requests_total{route="/healthz",code="405"} [0-9]+' \
  'escrowd_http_requests_total{route="/healthz",code="413"} [0-9]+' \
  'escrowd_http_request_duration_seconds_bucket{route="/readyz",le="\+Inf"} [0-9]+' \
  'escrowd_http_request_duration_seconds_sum{route="/readyz"} [0-9.]+' \
  'escrowd_http_request_duration_seconds_count{route="/readyz"} [0-9]+' \
  'escrowd_http_requests_in_flight 1' \
  'escrowd_db_errors_total{kind="connect"} [0-9]+' \
  'escrowd_db_errors_total{kind="serialization"} [0-9]+' \
  '# TYPE escrowd_http_request_duration_seconds histogram' \
  'escrowd_build_info{version="[0-9.]+"} 1'; do
  grep -Eq "^$series\$" "$BODYF" || fail "metrics lack /$series/"
done
# Every line is a comment or `name{labels} value`.
grep -Ev '^(# (HELP|TYPE) .*|[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [0-9.e+-]+)$' "$BODYF" &&
  fail "malformed exposition lines above"
ok "/metrics exposes requests, latency histograms, in-flight and db errors"

# The access log is one JSON object per line with a request id.
python3 - "$FIX_WORK/main.log" <<'PY' || fail "access log lines are not JSON with request ids"
import json, sys
seen = 0
for line in open(sys.argv[1]):
    o = json.loads(line)
    assert {"ts", "level", "msg"} <= set(o), o
    if o["msg"] == "request":
        assert len(o["request_id"]) == 32 and o["status"] >= 100, o
        seen += 1
        if o.get("client_request_id") == "caller-abc.123":
            seen += 1000
assert seen > 1000, seen
PY
ok "structured JSON access log"
