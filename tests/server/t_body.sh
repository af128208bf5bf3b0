#!/usr/bin/env bash
# The request-body path of escrowd's HTTP layer (JSON routes, limits,
# chunked uploads, path parameters), through srv_testd, which serves a test
# route table with escrowd_core's own code.
. "$(dirname "$0")/lib.sh"
load_fixture
: "${KE_TESTD:?}"

start_daemon testd "$KE_TESTD" ESCROWD_MAX_BODY_BYTES=4096
B=http://127.0.0.1:$PORT_testd
J=(-H 'Content-Type: application/json')

http POST "$B/echo" "${J[@]}" --data '{"a":[1,2,{"b":"c"}],"u":"\u00e9"}'
expect_status 200 "valid JSON"
[ "$(json_get echo.a.2.b)" = c ] || fail "echo content"
ok "valid JSON object accepted"

for bad in '{"a":' '{"a":1,}' "{'a':1}" '{"a":1}{"b":2}' '{"a":1,"a":2}' '[1,2]' '"str"' \
           '42' '' '{"a":"\u0000"}' $'{"a":"\xff"}' '{"a":NaN}'; do
  http POST "$B/echo" "${J[@]}" --data-binary "$bad"
  expect_status 400 "malformed JSON <$bad>"
  expect_error malformed_json "malformed JSON <$bad>"
done
deep=$(printf '%.0s[' $(seq 1 3000))
http POST "$B/echo" "${J[@]}" --data-binary "$deep"
expect_status 400 "deeply nested"
expect_error malformed_json "deeply nested"
ok "malformed JSON, duplicate keys, non-objects, NUL, bad UTF-8, deep nesting: 400 JSON"

http POST "$B/echo" -H 'Content-Type: text/plain' --data '{}'
expect_status 415 "text/plain"
expect_error unsupported_media_type "text/plain"
http POST "$B/echo" --data '{}'
expect_status 415 "form content type"
http POST "$B/echo" -H 'Content-Type: application/json; charset=utf-8' --data '{}'
expect_status 200 "json with charset"
ok "content type checked"

head -c 5000 /dev/zero | tr '\0' ' ' >"$TW/5k"
http POST "$B/echo" "${J[@]}" --data-binary @"$TW/5k"
expect_status 413 "5 kB announced"
expect_error payload_too_large "5 kB announced"
http POST "$B/echo" "${J[@]}" -H 'Transfer-Encoding: chunked' --data-binary @"$TW/5k"
expect_status 413 "5 kB chunked"
expect_error payload_too_large "5 kB chunked"
head -c 4000 /dev/zero | tr '\0' ' ' >"$TW/4k"; echo '{}' >>"$TW/4k"
http POST "$B/echo" "${J[@]}" -H 'Transfer-Encoding: chunked' --data-binary @"$TW/4k"
expect_status 200 "4 kB chunked under the limit"
head -c 1000000 /dev/zero >"$TW/1m"
http POST "$B/echo" "${J[@]}" -H 'Transfer-Encoding: chunked' --data-binary @"$TW/1m"
[ "$STATUS" = 413 ] || [ "$STATUS" = 000 ] || fail "1 MB chunked got $STATUS"
expect_serving "$B" "an endless chunked body"
ok "body limit: 413 JSON (announced and chunked); a flood is cut off"

http GET "$B/items/abc-123"
expect_status 200 "path parameter"
[ "$(json_get id)" = abc-123 ] || fail "path parameter value"
http PATCH "$B/items/x"
expect_status 405 "PATCH item"
expect_header '^Allow: GET, HEAD, DELETE' "Allow lists every method"
http GET "$B/items/"
expect_status 404 "empty parameter"
http GET "$B/items/a/b"
expect_status 404 "extra segment"
ok "route parameters and Allow"

stop_daemon testd
ok "srv_testd stopped cleanly"
