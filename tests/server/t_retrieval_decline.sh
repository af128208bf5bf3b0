# t_retrieval_decline.sh - the `decline` case of t_retrieval.sh (sourced
# there): a custodian declines a request, naming a rule (POST
# /v1/retrievals/{id}/declines, `escrowctl approve REQ --decline`).

case_decline() {
  hd key register >"$W/kr.out" 2>&1 || fail "key register: $(cat "$W/kr.out")"
  "$ESCROWCTL" pin add hd1 "$(sed -n 's/.*fingerprint \([0-9a-f]*\)$/\1/p' "$W/kr.out")" >/dev/null ||
    fail "pin add"
  start_retrieve d1 --device host-bde --volume C: --reason "locked out" --ticket T-1
  [ -n "$RID" ] || fail "no request: $(cat "$W/d1.err")"
  # A custodian (daemon or console) waits on the queue: the decline wakes it.
  http GET "$URL/v1/retrievals?state=pending" -H "Authorization: Bearer ${CT[2]}"
  local c0; c0=$(json_get cursor)
  [ -n "$c0" ] || fail "no queue cursor: $(cat "$BODYF")"
  curl -sS --max-time 40 -o "$W/queue.json" -w '%{http_code}' -H "Authorization: Bearer ${CT[2]}" \
    "$URL/v1/retrievals?state=pending&wait=30&since=$c0" >"$W/queue.status" 2>&1 &
  local qpid=$!
  # The requester waits in a 60 s long-poll: the decline must wake it.
  local t0; t0=$(date +%s%N)
  cust 1 approve "$RID" --decline ticket_pattern --reason "ticket T-1 is not an INC- ticket" \
    >"$W/dc.out" 2>&1 || fail "decline: $(cat "$W/dc.out")"
  grep -q "custodian 1 declined $RID: rule ticket_pattern" "$W/dc.out" || fail "decline output: $(cat "$W/dc.out")"
  local end=$((SECONDS + 10))
  until grep -q "declined by custodian 1 (c1): rule ticket_pattern: ticket T-1 is not an INC- ticket" "$W/d1.err"; do
    [ $SECONDS -lt "$end" ] || fail "the waiting requester did not see the decline: $(cat "$W/d1.err")"
    sleep 0.05
  done
  ok "a decline reaches the waiting requester within $(( ($(date +%s%N) - t0) / 1000000 )) ms, naming custodian, rule and reason"
  wait $qpid || fail "the queue long-poll: $(cat "$W/queue.status")"
  python3 - "$W/queue.json" "$c0" "$RID" <<'PY' || fail "the queue long-poll answered: $(cat "$W/queue.json")"
import json, sys
b = json.load(open(sys.argv[1]))
assert b["cursor"] > int(sys.argv[2]), b["cursor"]
assert [r["request_id"] for r in b["retrievals"]] == [sys.argv[3]], b
PY
  [ $(( ($(date +%s%N) - t0) / 1000000000 )) -lt 20 ] || fail "the queue long-poll waited for its timeout"
  local c1; c1=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["cursor"])' "$W/queue.json")
  local tq; tq=$(date +%s%N)
  http GET "$URL/v1/retrievals?state=pending&wait=1&since=$c1" -H "Authorization: Bearer ${CT[2]}"
  expect_status 200 "a queue long-poll that times out"
  [ "$(json_get cursor)" = "$c1" ] && [ $(( ($(date +%s%N) - tq) / 1000000 )) -ge 1000 ] ||
    fail "a quiet queue answered early or with another cursor: $(cat "$BODYF")"
  http GET "$URL/v1/retrievals?state=pending&wait=301" -H "Authorization: Bearer ${CT[2]}"
  expect_error bad_request "wait above 300"
  http GET "$URL/v1/retrievals?state=pending&since=-1" -H "Authorization: Bearer ${CT[2]}"
  expect_error bad_request "a negative cursor"
  ok "a custodian waiting on the queue is woken by the decline; a quiet queue waits out its time"

  local url=$URL/v1/retrievals/$RID/declines
  jpost "$url" "${CT[1]}" '{"rule":"ticket_pattern","reason":"ticket T-1 is not an INC- ticket"}'
  expect_status 200 "the same decline again (a retry)"
  jpost "$url" "${CT[1]}" '{"rule":"business_hours","reason":"other"}'
  expect_error conflict "another decline of the same index"
  jpost "$url" "$HD" '{"rule":"x","reason":"y"}'
  expect_status 403 "a helpdesk user declines"
  jpost "$url" "${CT[2]}" '{"rule":"Bad Rule","reason":"y"}'
  expect_error bad_request "a rule with capitals and a space"
  jpost "$url" "${CT[2]}" '{"rule":"r","reason":"a\u0007b"}'
  expect_error bad_request "a control character in the reason"
  jpost "$url" "${CT[2]}" '{"rule":"r","reason":"y","extra":1}'
  expect_error bad_request "an unknown member"
  jpost "$URL/v1/retrievals/req-aaaaaaaaaaaaaaaaaaaaaaaaaa/declines" "${CT[2]}" '{"rule":"r","reason":"y"}'
  expect_status 404 "an unknown request"
  [ "$(sql "SELECT count(*) FROM retrieval_declines")" = 1 ] || fail "declines stored: $(sql "SELECT * FROM retrieval_declines")"
  [ "$(ev_count retrieval.decline "retrieval:$RID")" = 1 ] || fail "retrieval.decline not audited once"
  if sql "UPDATE retrieval_declines SET reason = 'edited'" >/dev/null 2>&1; then
    fail "a decline was edited"
  fi
  ok "a repeat is idempotent, another is 409; only custodians, valid rules and reasons; audited; never edited"

  http GET "$URL/v1/retrievals/$RID" -H "Authorization: Bearer ${CT[2]}"
  python3 - "$BODYF" <<'PY' || fail "the view's declines: $(cat "$BODYF")"
import json, sys
d = json.load(open(sys.argv[1]))["retrieval"]["declines"]
assert len(d) == 1 and d[0]["custodian_index"] == 1 and d[0]["custodian"] == "c1", d
assert d[0]["rule"] == "ticket_pattern" and d[0]["reason"] == "ticket T-1 is not an INC- ticket", d
assert d[0]["time"].endswith("Z"), d
PY
  # Not a veto: three others approve, and each sees the decline first.
  for i in 2 3 4; do
    approve "$i" "$RID"
    [ "$RC" = 0 ] || fail "approve $i after a decline: $(cat "$W/ap.$i")"
  done
  grep -q "declined by custodian 1 (c1): rule ticket_pattern" "$W/ap.2" || fail "approve does not show the decline"
  wait_retrieve d1
  [ "$RC" = 0 ] && [ "$(cat "$W/d1.secret")" = "$PW" ] || fail "retrieve after a decline: $(cat "$W/d1.err")"
  ok "a decline is not a veto: the others approve (seeing it) and the key opens"
}
