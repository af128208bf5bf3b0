# t_retrieval_older.sh - the `older` case of t_retrieval.sh (sourced there):
# an older key (a superseded record: a restored disk image, a second
# protector) is asked for by its record id.  The signed statement names the
# record; the requester and every custodian are told it is an older key;
# a hostile server that pairs the request with another record (the
# current one) gets no part; a request by device still means the current
# record; the record stays superseded after it is opened, and the audit
# log says which record, in which state, was asked for.

case_older() {
  hd key register >"$W/kr.out" 2>&1 || fail "key register: $(cat "$W/kr.out")"
  "$ESCROWCTL" pin add hd1 "$(hd key show | head -n1)" >/dev/null || fail "pin add"
  local old cur S3=retrieval-stdin-secret-the-newer-one-4
  old=$(active data)
  agin "$S3" escrow --provider stdin --volume data
  expect_rc 0 "escrow data again: $(cat "$W/agent.err")"
  cur=$(active data)
  [ -n "$cur" ] && [ "$cur" != "$old" ] || fail "no new record for data"
  [ "$(sql "SELECT state FROM escrow_records WHERE id = '$old'")" = superseded ] || fail "old record not superseded"

  # What the server refuses: two names at once (400), a malformed id (400),
  # an unknown record (404, after the signature check: escrowctl signs it).
  local fakeE nonce sig
  fakeE=$(python3 -c 'import base64; print(base64.urlsafe_b64encode(bytes.fromhex("036b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296")).decode().rstrip("="))')
  nonce=AAAAAAAAAAAAAAAAAAAAAA
  sig=$(python3 -c 'import base64; print(base64.urlsafe_b64encode(bytes(64)).decode().rstrip("="))')
  jpost "$URL/v1/retrievals" "$HD" "{\"request_id\": \"req-aaaaaaaaaaaaaaaaaaaaaaaaaa\", \"device\": \"host-bde\", \"record\": \"$old\", \"E\": \"$fakeE\", \"reason\": \"x\", \"ticket\": \"T-1\", \"nonce\": \"$nonce\", \"signature\": \"$sig\"}"
  expect_status 400 "a request naming a device and a record"
  jpost "$URL/v1/retrievals" "$HD" "{\"request_id\": \"req-aaaaaaaaaaaaaaaaaaaaaaaaaa\", \"record\": \"rec-NOT-AN-ID\", \"E\": \"$fakeE\", \"reason\": \"x\", \"ticket\": \"T-1\", \"nonce\": \"$nonce\", \"signature\": \"$sig\"}"
  expect_status 400 "a malformed record id"
  grep -q '"record' "$BODYF" || fail "the 400 does not name the record field: $(cat "$BODYF")"
  set +e
  hd retrieve --record rec-aaaaaaaaaaaaaaaaaaaaaaaaaa --reason x --ticket T-1 --key-out "$W/k0" \
    >/dev/null 2>"$W/r0.err"
  RC=$?
  hd retrieve --record "$old" --device host-bde --reason x --ticket T-1 --key-out "$W/k0" \
    >/dev/null 2>"$W/r1.err"
  RC2=$?
  set -e
  [ "$RC" = 1 ] && grep -q "No escrow record has this id" "$W/r0.err" ||
    fail "an unknown record ($RC): $(cat "$W/r0.err")"
  [ "$RC2" = 2 ] && grep -q "exactly\|--record" "$W/r1.err" || fail "--record with --device ($RC2)"
  ok "two names, a malformed or an unknown record id are refused"

  # By record id: the requester and each custodian are told it is older.
  start_retrieve o1 --record "$old" --reason "restored disk image" --ticket INC-4001
  local o1=$RID
  [ -n "$o1" ] || fail "no request id: $(cat "$W/o1.err")"
  grep -q "AN OLDER KEY.*record $old is superseded" "$W/o1.err" ||
    fail "retrieve does not say it is an older key: $(cat "$W/o1.err")"
  [ "$(sql "SELECT named_record FROM retrievals WHERE id = '$o1'")" = "$old" ] || fail "named_record"
  # The hostile server pairs the signed request with the current record.
  own "UPDATE retrievals SET record_id = '$cur' WHERE id = '$o1'" >/dev/null
  approve 1 "$o1"
  [ "$RC" = 1 ] && grep -q "signed a request for record $old" "$W/ap.1" ||
    fail "a request for $old paired with $cur ($RC): $(cat "$W/ap.1")"
  [ "$(parts "$o1")" = 0 ] || fail "a part for a request paired with another record"
  own "UPDATE retrievals SET record_id = '$old' WHERE id = '$o1'" >/dev/null
  ok "a request for an older record that the server pairs with the current one gets no part"
  for i in 1 2 3; do
    approve "$i" "$o1"
    [ "$RC" = 0 ] || fail "approve c$i o1: $(cat "$W/ap.$i")"
    grep -q "\*\*\* AN OLDER KEY \*\*\*  record $old is superseded" "$W/ap.$i" &&
      grep -q "signed request     record $old by its id" "$W/ap.$i" ||
      fail "approve does not show that it is an older key: $(cat "$W/ap.$i")"
  done
  wait_retrieve o1
  [ "$RC" = 0 ] || fail "retrieve o1: $(cat "$W/o1.err")"
  [ "$(cat "$W/o1.secret")" = "$S2" ] || fail "the older record did not open to the older secret"
  [ "$(sql "SELECT state FROM escrow_records WHERE id = '$old'")" = superseded ] ||
    fail "the older record changed state"
  [ "$(sql "SELECT state FROM escrow_records WHERE id = '$cur'")" = active ] ||
    fail "the current record changed state"
  local ev; ev=$(sql "SELECT convert_from(leaf, 'UTF8') FROM audit_log WHERE convert_from(leaf, 'UTF8')::jsonb->>'action' = 'retrieval.create' AND convert_from(leaf, 'UTF8')::jsonb->>'object' = 'retrieval:$o1'")
  for _ in $(seq 50); do [ -n "$ev" ] && break; sleep 0.1; ev=$(sql "SELECT convert_from(leaf, 'UTF8') FROM audit_log WHERE convert_from(leaf, 'UTF8')::jsonb->>'object' = 'retrieval:$o1' AND convert_from(leaf, 'UTF8')::jsonb->>'action' = 'retrieval.create'"); done
  python3 -c 'import json,sys; d=json.loads(sys.argv[1])["details"]; assert d["record"] == sys.argv[2] and d["record_state"] == "superseded", d' \
    "$ev" "$old" || fail "retrieval.create does not name the older record and its state: $ev"
  ok "the older record opened to its own secret, said so to everyone, stayed superseded and is audited"

  # By device: the current record, and no older-key warning.
  hd retrieve --device host-bde --volume data --reason "current" --ticket INC-4002 \
    --key-out "$W/o2.key" --request-out "$W/o2.req" >/dev/null 2>"$W/o2.err" || fail "o2: $(cat "$W/o2.err")"
  local o2; o2=$(sed -n 's/.*request \(req-[a-z2-7]*\) created.*/\1/p' "$W/o2.err")
  [ "$(sql "SELECT record_id FROM retrievals WHERE id = '$o2'")" = "$cur" ] || fail "by device: not the current record"
  approve 1 "$o2"
  [ "$RC" = 0 ] && ! grep -q "OLDER KEY" "$W/ap.1" "$W/o2.err" || fail "a current record shown as older"
  ok "a request by device is for the current record, with no older-key warning"
}
