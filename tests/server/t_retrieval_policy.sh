# t_retrieval_policy.sh - the `policy` case of t_retrieval.sh (sourced
# there): policy custodians (`escrowctl custodian serve`, issue 14) on a
# 2-of-3 key.  Two daemons (c1, c2) open a conforming request with no
# human; each rule ends in a decline naming it (c3 --once, one policy
# each); a tripped limit alarms by webhook and SMTP, declines everything,
# survives a restart and yields only to the local re-arm; a hostile server
# (another log key, a forged signature) gets declines; an escrow event
# the witnesses did not cosign yet, or an unreadable saved checkpoint, gets
# no decision until it is proven; a failing alarm channel backs off and is
# logged as failed; a crash between decision and part loses nothing and
# makes no second part (escrowctl-testhooks; the installed escrowctl has
# no hooks); the share is in locked memory and SIGABRT leaves no core; a
# bad policy is refused with its key and line.  One queue round decides all
# pending requests with one commit before sending any, and a limit or
# device cool-down crossed inside a round counts exactly.

KEYN=0 # one-time key files of new_request, numbered (never a name twice)

# policy FILE [PYTHON-STATEMENTS]: the base policy, changed by the
# statements (on the dict p), written to FILE.
policy() {
  python3 - "$1" "$(cat "$TW/hook.port")" "$(cat "$TW/smtp.port")" "$TW/smtp-cert.pem" \
    "${2:-}" <<'PY'
import json, sys
out, hook, smtp, ca, change = sys.argv[1:6]
p = {
  "requesters": {"accounts": ["hd1"]},
  "pin_on_first_sight": True,
  "reason_min_length": 8,
  "ticket_pattern": "^INC-[0-9]{4,}$",
  "device_groups": {"allow": ["lab"], "deny": ["executives"]},
  "record_states": ["active", "disclosed"],
  "limits": {"requester_per_hour": 50, "total_per_day": 100},
  "alarm": {"webhooks": ["http://127.0.0.1:%s/alarm" % hook],
            "mail_to": ["security@example.test"],
            "smtp_url": "smtp://127.0.0.1:%s" % smtp, "smtp_from": "custodian@example.test",
            "smtp_ca_file": ca},
}
exec(change)
json.dump(p, open(out, "w"), indent=2)
PY
}

# serve NAME I POLICY [ARGS...]: a daemon for custodian I in the background.
serve() {
  local n=$1 i=$2 pol=$3; shift 3
  ESCROWCTL_TOKEN=${CT[$i]} "$ESCROWCTL" custodian serve --policy "$pol" \
    --share "$KD/custodian-$i.share.json" --passphrase-file "$KD.pass/$i" --state "$W/st-$n" \
    "$@" >"$W/$n.out" 2>"$W/$n.err" &
  echo $! >"$W/$n.pid"
  local end=$((SECONDS + 20))
  until grep -q "serving" "$W/$n.err" 2>/dev/null; do
    kill -0 "$(cat "$W/$n.pid")" 2>/dev/null || fail "$n did not start: $(cat "$W/$n.err")"
    [ $SECONDS -lt $end ] || fail "$n did not start: $(cat "$W/$n.err")"
    sleep 0.05
  done
}
unserve() { kill "$(cat "$W/$1.pid")" 2>/dev/null || true; wait "$(cat "$W/$1.pid")" 2>/dev/null || true; }
# once STATE POLICY [ARGS...]: custodian 3 answers what is pending, once
# (with $OCTL: that escrowctl, e.g. $ESCROWCTL_HOOKS for the test hooks).
once() {
  local st=$1 pol=$2; shift 2
  ESCROWCTL_TOKEN=${CT[3]} "${OCTL:-$ESCROWCTL}" custodian serve --once --policy "$pol" \
    --share "$KD/custodian-3.share.json" --passphrase-file "$KD.pass/3" --state "$W/st-$st" \
    "$@" >"$W/once.out" 2>"$W/once.err" || fail "serve --once: $(cat "$W/once.err")"
}
# new_request [TICKET [VOLUME]]: a request from hd1 for C:, the only one pending
# (older ones are expired first); sets RID.  add_request: one more pending.
expire_pending() {
  own "UPDATE retrievals SET created = now() - interval '2 days', expires = now() - interval '1 day' WHERE state = 'pending'" >/dev/null
}
new_request() {
  expire_pending
  add_request "$@"
}
add_request() {
  hd retrieve --device host-bde --volume "${2:-C:}" --reason "locked out after a BIOS update" \
    --ticket "${1:-INC-20001}" --key-out "$W/k.$((KEYN += 1))" >"$W/nr.out" 2>"$W/nr.err" ||
    fail "retrieve: $(cat "$W/nr.err")"
  RID=$(sed -n 's/.*request \(req-[a-z2-7]*\) created.*/\1/p' "$W/nr.err" | head -n1)
  [ -n "$RID" ] || fail "no request id: $(cat "$W/nr.err")"
}
# declined_by I RULE: the current RID carries custodian I's decline naming RULE.
declined_by() {
  http GET "$URL/v1/retrievals/$RID" -H "Authorization: Bearer ${CT[1]}"
  python3 - "$BODYF" "$1" "$2" <<'PY' || fail "no decline $2 by $1: $(cat "$BODYF")"
import json, sys
d = json.load(open(sys.argv[1]))["retrieval"]["declines"]
assert [(x["custodian_index"], x["rule"]) for x in d] == [(int(sys.argv[2]), sys.argv[3])], d
assert all(x["reason"] for x in d), d
PY
}

case_policy() {
  # The daemons go with the test, whatever way it ends.
  trap 'rc=$?; for p in "$W"/a.pid "$W"/b.pid "$W"/f.pid "$W"/core.pid "$W"/badq.pid; do kill -9 "$(cat "$p" 2>/dev/null)" 2>/dev/null || true; done
        kill $HOOK_PID 2>/dev/null; sink_stop; drop_private_db; (exit $rc); cleanup_test' EXIT
  hd key register >"$W/kr.out" 2>&1 || fail "key register: $(cat "$W/kr.out")"
  policy "$W/pol-a.json" 'p["limits"] = {"total_per_day": 2}'
  policy "$W/pol-b.json"
  "$ESCROWCTL" custodian check-policy "$W/pol-a.json" >"$W/cp.out" 2>&1 || fail "check-policy: $(cat "$W/cp.out")"
  grep -q "at most 2 approvals in total per day" "$W/cp.out" && grep -q "the ticket matches" "$W/cp.out" ||
    fail "check-policy says: $(cat "$W/cp.out")"

  # A bad policy is refused at start, naming the key and its line.
  printf '{\n  "requesters": {"accounts": ["hd1"]},\n  "limits": {"total_per_day": 2},\n  "alarm": {"webhooks": ["http://127.0.0.1:1/x"]},\n  "busines_hours": {}\n}\n' >"$W/bad.json"
  set +e
  ESCROWCTL_TOKEN=${CT[1]} "$ESCROWCTL" custodian serve --policy "$W/bad.json" --share "$KD/custodian-1.share.json" \
    --passphrase-file "$KD.pass/1" --state "$W/st-bad" >"$W/bad.out" 2>&1
  RC=$?
  set -e
  [ "$RC" = 2 ] && grep -q 'line 5: busines_hours: unknown key' "$W/bad.out" ||
    fail "a bad policy ($RC): $(cat "$W/bad.out")"
  [ ! -e "$W/st-bad" ] || fail "a refused policy left state behind"
  printf '{"requesters": {"accounts": ["hd1"]},\n "limits": {"total_per_day": 0}}\n' >"$W/bad.json"
  "$ESCROWCTL" custodian check-policy "$W/bad.json" >"$W/bad.out" 2>&1 && fail "a limit of 0 accepted"
  grep -q 'line 2: limits.total_per_day: expected a whole number, 1 to 100000' "$W/bad.out" ||
    fail "bad limit: $(cat "$W/bad.out")"
  ok "a bad policy is refused at start with its key and line; check-policy says what a good one allows"

  # 2-of-3 with two policy custodians: no human.
  serve a 1 "$W/pol-a.json"
  serve b 2 "$W/pol-b.json"
  local t0; t0=$(date +%s%N)
  start_retrieve d1 --device host-bde --volume C: --reason "locked out after a BIOS update" --ticket INC-10001
  wait_retrieve d1
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  [ "$RC" = 0 ] && [ "$(cat "$W/d1.secret")" = "$PW" ] || fail "no key from the policy custodians: $(cat "$W/d1.err") $(cat "$W/a.err" "$W/b.err")"
  grep -q "\"request\":\"$RID\",\"event\":\"approve\"" "$W/st-a/decisions.log" || fail "decision log: $(cat "$W/st-a/decisions.log")"
  ok "2-of-3 with two policy custodians: a conforming request opened with no human in $ms ms"

  # The share: locked memory, no core file, not in logs or the database.
  local pid; pid=$(cat "$W/a.pid")
  awk '/^VmLck:/ {exit !($2 > 0)}' "/proc/$pid/status" || fail "no locked memory: $(grep VmLck "/proc/$pid/status")"
  [ "$(awk '{print $1}' /proc/sys/kernel/core_pattern | cut -c1)" != "|" ] || log "core_pattern is a pipe: the core check looks at the dumpable flag only"
  touch "$W/hook.log"
  for f in "$W/a.err" "$W/st-a/decisions.log" "$W/st-a/state.json" "$W/hook.log" "$W/main.log"; do
    grep -qF -e "$(cat "$KD.pass/1")" -e "$PW" "$f" && fail "a passphrase or secret in $f"
  done
  ok "the daemon's share memory is locked (VmLck); no passphrase or key in its logs, state or webhooks"
  unserve b

  # A hostile server: a log key the daemon does not pin, a forged signature.
  unserve a
  new_request
  serve a 1 "$W/pol-a.json" --log-key 'escrow.example.org/audit+f60e6d1e+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4'
  wait_decline a "$RID" escrow_event
  unserve a
  new_request
  own "UPDATE retrievals SET signature = decode(repeat('00', 64), 'hex') WHERE id = '$RID'" >/dev/null
  once hostile "$W/pol-b.json"
  declined_by 3 request_file
  [ "$(parts "$RID")" = 0 ] || fail "a part for a forged request"
  ok "a request whose escrow event is not in the pinned log, or whose signature is forged, is declined"

  # Each rule ends in a decline naming it (custodian 3, one policy each).
  local rule change
  while IFS='|' read -r rule change ticket; do
    [ -n "$rule" ] || continue
    policy "$W/pol-$rule.json" "$change"
    new_request "${ticket:-INC-20001}"
    once "$rule" "$W/pol-$rule.json"
    declined_by 3 "$rule"
    grep -q "\"request\":\"$RID\",\"event\":\"decline\",\"rule\":\"$rule\"" "$W/st-$rule/decisions.log" ||
      fail "$rule not in the decision log: $(cat "$W/st-$rule/decisions.log")"
  done <<EOF
requester_allowed|p["requesters"] = {"accounts": ["hd9"], "roles": ["auditor"]}|
requester_key|p["requester_keys"] = {"hd1": "ab" * 32}|
ticket_pattern||T-1
ticket_check|p["ticket_check"] = {"url": "http://127.0.0.1:%s/itsm/missing" % hook}|
device_group|p["device_groups"] = {"deny": ["lab"]}|
EOF
  grep -q '"get": "/itsm/missing?ticket=INC-20001&device=' "$W/hook.log" || fail "the ITSM check was not asked: $(cat "$W/hook.log")"
  # Business hours, with the daemon's clock on a Sunday at 03:00 in Berlin.
  policy "$W/pol-hours.json" 'p["business_hours"] = {"time_zone": "Europe/Berlin", "days": ["mon","tue","wed","thu","fri"], "start": "08:00", "end": "18:00"}'
  new_request
  OCTL=$ESCROWCTL_HOOKS ESCROWCTL_CUSTODIAN_NOW=$(date -d '2026-12-06T02:00:00Z' +%s) once hours "$W/pol-hours.json"
  declined_by 3 business_hours
  grep -q "2026-12-06 03:00 in Europe/Berlin" "$W/st-hours/decisions.log" || fail "hours: $(cat "$W/st-hours/decisions.log")"
  # ... and on Monday at 09:00 the same policy approves.
  new_request
  OCTL=$ESCROWCTL_HOOKS ESCROWCTL_CUSTODIAN_NOW=$(date -d '2026-12-07T08:00:00Z' +%s) once hours "$W/pol-hours.json"
  [ "$(parts "$RID")" = 1 ] || fail "no part within business hours: $(cat "$W/once.err")"
  # A device cool-down: the approval above was for this device.
  policy "$W/pol-cool.json" 'p["device_cooldown_seconds"] = 3600'
  new_request
  OCTL=$ESCROWCTL_HOOKS ESCROWCTL_CUSTODIAN_NOW=$(date -d '2026-12-07T08:30:00Z' +%s) once hours "$W/pol-cool.json"
  declined_by 3 device_cooldown
  # A superseded record: the agent escrows a new key for C: meanwhile.
  new_request INC-20001 data
  local old_rid=$RID
  agin "retrieval-stdin-secret-the-next-one-9" escrow --provider stdin --volume data
  expect_rc 0 "escrow data again"
  once superseded "$W/pol-b.json"
  RID=$old_rid
  declined_by 3 record_state
  # That older record asked for by its id (retrieve --record): declined by
  # the same policy; approved by one that allows superseded records.
  local old_rec; old_rec=$(sql "SELECT record_id FROM retrievals WHERE id = '$old_rid'")
  expire_pending
  hd retrieve --record "$old_rec" --reason "restored disk image" --ticket INC-20001 \
    --key-out "$W/k.older" >"$W/nr.out" 2>"$W/nr.err" || fail "retrieve --record: $(cat "$W/nr.err")"
  RID=$(sed -n 's/.*request \(req-[a-z2-7]*\) created.*/\1/p' "$W/nr.err" | head -n1)
  once older "$W/pol-b.json"
  declined_by 3 record_state
  policy "$W/pol-older.json" 'p["record_states"] = ["active", "disclosed", "superseded"]'
  once older2 "$W/pol-older.json"
  [ "$(parts "$RID")" = 1 ] || fail "no part for an older record the policy allows: $(cat "$W/once.err")"
  # Without first-sight pinning an unknown requester key gets nothing either.
  policy "$W/pol-nopin.json" 'p["pin_on_first_sight"] = False'
  new_request
  once nopin "$W/pol-nopin.json"
  declined_by 3 requester_key
  [ "$(parts "$RID")" = 0 ] || fail "a part for an unpinned requester key"
  ok "each rule declines by name: a foreign or unpinned requester key, requester, ticket, ITSM 404, device group, business hours (injected clock), cool-down, superseded record (also asked for by its id; allowed by record_states)"

  # An escrow event the witnesses did not cosign yet (a witness lag), or a
  # log view this host cannot read, is no decline: custodian 3 decides
  # nothing until a cosigned checkpoint covers the event, then approves.
  local wit=$KE_SRC/tests/server/t_witness.py vw cfgw=$W/cfg-wit
  vw=$("${PY:-python3}" "$wit" new witness.example/w1 "$W/w1.key")
  cosign_now() {
    curl -sS "$URL/v1/audit/checkpoint?fresh=1&format=note" | "${PY:-python3}" "$wit" cosign "$W/w1.key" >"$W/cp.cosigned"
    python3 -c 'import json,sys; print(json.dumps({"checkpoint": open(sys.argv[1]).read()}))' "$W/cp.cosigned" >"$W/cosig.json"
    jpost "$URL/v1/audit/cosignatures" "$AUD" "@$W/cosig.json"
    expect_status 201 "a witness's cosignature"
  }
  cosign_now
  agin "retrieval-stdin-secret-the-witness-10" escrow --provider stdin --volume data
  expect_rc 0 "escrow data after the cosigned checkpoint"
  new_request INC-20001 data
  XDG_CONFIG_HOME=$cfgw ESCROWCTL_WITNESS_KEY=$vw once wit "$W/pol-b.json"
  grep -q "not in the signed log yet" "$W/once.err" || fail "no witness lag seen: $(cat "$W/once.err")"
  ! grep -q "\"request\":\"$RID\"" "$W/st-wit/decisions.log" 2>/dev/null ||
    fail "a decision under a witness lag: $(cat "$W/st-wit/decisions.log")"
  mv "$cfgw/escrowctl/audit-checkpoint" "$W/cp.saved" && mkdir "$cfgw/escrowctl/audit-checkpoint"
  cosign_now
  XDG_CONFIG_HOME=$cfgw ESCROWCTL_WITNESS_KEY=$vw once wit "$W/pol-b.json"
  grep -q "saved checkpoint" "$W/once.err" || fail "no local log-view error: $(cat "$W/once.err")"
  ! grep -q "\"request\":\"$RID\"" "$W/st-wit/decisions.log" 2>/dev/null ||
    fail "a decision on a local log-view error: $(cat "$W/st-wit/decisions.log")"
  [ "$(sql "SELECT count(*) FROM retrieval_declines WHERE retrieval_id = '$RID'")" = 0 ] &&
    [ "$(parts "$RID")" = 0 ] || fail "a decline or part while the event was not proven"
  rmdir "$cfgw/escrowctl/audit-checkpoint" && mv "$W/cp.saved" "$cfgw/escrowctl/audit-checkpoint"
  XDG_CONFIG_HOME=$cfgw ESCROWCTL_WITNESS_KEY=$vw once wit "$W/pol-b.json"
  [ "$(parts "$RID")" = 1 ] || fail "no part once the event was cosigned: $(cat "$W/once.err")"
  grep -q "cosigned by the configured witnesses" "$W/once.err" || fail "not proven with the witness: $(cat "$W/once.err")"
  ok "an escrow event past the cosigned checkpoint, or an unreadable saved checkpoint, waits (no decline); cosigned, it is approved"

  # The brake: custodian a allows 2 a day; it gave 1 (the first request).
  expire_pending
  serve a 1 "$W/pol-a.json"
  new_request
  wait_part "$RID" 1
  new_request
  wait_decline a "$RID" rate_limit
  local end=$((SECONDS + 20))
  until grep -q '"path": "/alarm"' "$W/hook.log" && [ "$(grep -l 'policy custodian 1 stopped approving' "$MAILDIR"/*.eml 2>/dev/null | wc -l)" -ge 1 ]; do
    [ $SECONDS -lt $end ] || fail "no alarm by webhook and mail: $(cat "$W/hook.log"; cat "$W/a.err")"
    sleep 0.1
  done
  python3 - "$W/hook.log" <<'PY' || fail "alarm payload: $(grep alarm "$W/hook.log")"
import json, sys
a = [json.loads(l) for l in open(sys.argv[1]) if '"/alarm"' in l]
b = json.loads(a[0]["body"])
assert b["event"] == "custodian.alarm" and b["custodian_index"] == 1 and "limits.total_per_day" in b["limit"], b
PY
  new_request
  wait_decline a "$RID" limit_tripped
  kill -9 "$(cat "$W/a.pid")"; wait "$(cat "$W/a.pid")" 2>/dev/null || true
  serve a 1 "$W/pol-a.json"
  new_request
  wait_decline a "$RID" limit_tripped
  unserve a
  "$ESCROWCTL" custodian rearm --state "$W/st-a" >"$W/rearm.out" 2>&1 || fail "rearm: $(cat "$W/rearm.out")"
  serve a 1 "$W/pol-a.json"
  new_request
  wait_part "$RID" 1
  ok "a tripped limit alarms (webhook and SMTP), declines everything, survives a restart; the local re-arm re-arms"

  # A channel that fails waits (5 s, doubling) instead of being asked each
  # round, and decisions.log says which channels took the alarm and which
  # did not (a webhook by its host only: its path may be its secret).
  unserve a
  policy "$W/pol-fail.json" 'p["limits"] = {"total_per_day": 1}; p["alarm"]["webhooks"] = ["http://127.0.0.1:%s/fail/s3cret" % hook]'
  expire_pending
  serve f 2 "$W/pol-fail.json"
  new_request
  wait_part "$RID" 1
  new_request
  wait_decline f "$RID" rate_limit
  local hookport; hookport=$(cat "$TW/hook.port")
  end=$((SECONDS + 20))
  until grep -q '"event":"alarm_failed"' "$W/st-f/decisions.log" && grep -q '"event":"alarm",' "$W/st-f/decisions.log"; do
    [ $SECONDS -lt $end ] || fail "no alarm lines: $(cat "$W/st-f/decisions.log" "$W/f.err")"
    sleep 0.05
  done
  python3 - "$W/st-f/decisions.log" "$hookport" <<'PY' || fail "alarm lines: $(grep alarm "$W/st-f/decisions.log")"
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if '"alarm' in l]
took = [l["reason"] for l in lines if l["event"] == "alarm"]
failed = [l["reason"] for l in lines if l["event"] == "alarm_failed"]
lim = "limits.total_per_day (1) reached; channels: "
assert took == [lim + "mailto:security@example.test"], took
assert failed and all(f == lim + "http://127.0.0.1:%s" % sys.argv[2] for f in failed), failed
PY
  grep -q s3cret "$W/st-f/decisions.log" && fail "a webhook's path in decisions.log"
  new_request
  wait_decline f "$RID" limit_tripped
  new_request
  wait_decline f "$RID" limit_tripped
  end=$((SECONDS + 60))
  until [ "$(grep -c '"path": "/fail/s3cret"' "$W/hook.log")" -ge 2 ]; do
    [ $SECONDS -lt $end ] || fail "the failing channel was not tried again: $(cat "$W/f.err")"
    sleep 0.1
  done
  python3 - "$W/hook.log" <<'PY' || fail "the failing channel was asked again too soon: $(grep /fail "$W/hook.log")"
import json, sys
t = [json.loads(l)["t"] for l in open(sys.argv[1]) if '"/fail/s3cret"' in l]
assert all(b - a >= 4.5 for a, b in zip(t, t[1:])), t
PY
  unserve f
  ok "a failing alarm channel backs off (5 s, doubling); decisions.log names the channels that took the alarm and those that failed"

  # The installed escrowctl has no test hooks: neither their names nor
  # their effect (the crash point, the clock of the decision).
  grep -q ESCROWCTL_CUSTODIAN "$ESCROWCTL" && fail "the installed escrowctl carries the custodian test hooks"
  new_request
  ESCROWCTL_CUSTODIAN_CRASH=after-decide ESCROWCTL_CUSTODIAN_NOW=4102444800 once prod "$W/pol-b.json"
  [ "$(parts "$RID")" = 1 ] || fail "the installed escrowctl did not approve: $(cat "$W/once.err")"
  [ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["decisions"][sys.argv[2]]["t"])' \
        "$W/st-prod/state.json" "$RID")" -lt 4102444800 ] || fail "the installed escrowctl read ESCROWCTL_CUSTODIAN_NOW"
  ok "the installed escrowctl ignores ESCROWCTL_CUSTODIAN_CRASH and _NOW (only escrowctl-testhooks has them)"

  # A crash between the decision and the part loses nothing and makes no
  # second part: the decision is found undone at start and sent once.
  unserve a
  new_request
  local other=$RID
  new_request
  crash_once after-decide
  [ "$(parts "$RID")" = 0 ] || fail "a part before the crash point"
  local decided
  decided=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["decisions"][sys.argv[2]]["part"])' \
            "$W/st-crash/state.json" "$RID")
  # Meanwhile the server swaps the request's E for another's: the resend
  # must be the part decided, not one made for what the server serves now.
  own "UPDATE retrievals SET e_point = (SELECT e_point FROM retrievals WHERE id = '$other') WHERE id = '$RID'" >/dev/null
  once crash "$W/pol-b.json"
  [ "$(parts "$RID")" = 1 ] || fail "the decision was lost in the crash: $(cat "$W/once.err")"
  python3 - "$decided" "$(sql "SELECT encode(part, 'hex') FROM retrieval_parts WHERE retrieval_id = '$RID'")" <<'PY' ||
import base64, sys
assert base64.urlsafe_b64decode(sys.argv[1] + "=" * (-len(sys.argv[1]) % 4)).hex() == sys.argv[2]
PY
    fail "the resent part is not the one decided"
  new_request
  crash_once after-send
  [ "$(parts "$RID")" = 1 ] || fail "no part before the crash after sending"
  once crash "$W/pol-b.json"
  [ "$(parts "$RID")" = 1 ] || fail "not exactly one part after a crash after sending"
  [ "$(grep -c "\"request\":\"$RID\",\"event\":\"approve\"" "$W/st-crash/decisions.log")" = 1 ] ||
    fail "one decision, not two: $(cat "$W/st-crash/decisions.log")"
  ok "a crash before or after the part is sent: one decision, one part"

  # The server killed in the middle: decided (and durable), escrowd dies
  # before the part reaches it; a serving daemon rides out the outage;
  # the server back on its port, the decision is sent once, and a new
  # request is approved by the daemon that waited.
  new_request
  crash_once after-decide
  local mid=$RID
  serve k 1 "$W/pol-b.json"
  kill -KILL "$(cat "$TW/main.pid")"
  [ "$(wait_exit main 20)" != timeout ] || fail "escrowd did not die"
  start_private main ESCROWD_PORT="$PORT_main" "${MAIN_ENV[@]}"
  once crash "$W/pol-b.json"
  local p3="SELECT count(*) FROM retrieval_parts WHERE retrieval_id = '$mid' AND custodian_index = 3"
  [ "$(sql "$p3")" = 1 ] || fail "the decision made before the server died was lost: $(cat "$W/once.err")"
  new_request
  wait_part "$RID" 1
  unserve k
  [ "$(sql "$p3")" = 1 ] || fail "two parts of one index after the server restart"
  [ "$(grep -c "\"request\":\"$mid\",\"event\":\"approve\"" "$W/st-crash/decisions.log")" = 1 ] ||
    fail "the restart made a second decision: $(cat "$W/st-crash/decisions.log")"
  ok "escrowd killed mid-approval: the durable decision is sent once after its restart; a serving daemon rides out the outage"

  # One queue round decides every pending request with one commit before
  # it sends anything: killed right after deciding, it has decided all
  # three (the first-sight pin taken once) and sent none; the next round
  # sends each once.
  expire_pending
  local batch=() k
  for k in 1 2 3; do add_request "INC-3000$k"; batch+=("$RID"); done
  crash_once after-decide batch
  python3 - "$W/st-batch/state.json" "${batch[@]}" <<'PY' || fail "not all decided in the round: $(cat "$W/st-batch/state.json")"
import json, sys
d = json.load(open(sys.argv[1]))["decisions"]
assert all(d[r]["decision"] == "approve" and not d[r]["done"] and d[r]["part"] for r in sys.argv[2:]), d
PY
  for k in "${batch[@]}"; do [ "$(parts "$k")" = 0 ] || fail "a part of $k before the round's decisions were durable"; done
  once batch "$W/pol-b.json"
  for k in "${batch[@]}"; do [ "$(parts "$k")" = 1 ] || fail "$k has $(parts "$k") parts after the resend"; done
  [ "$(grep -c '"event":"approve"' "$W/st-batch/decisions.log")" = 3 ] && [ "$(grep -c '"event":"sent"' "$W/st-batch/decisions.log")" = 3 ] ||
    fail "decision log of the round: $(cat "$W/st-batch/decisions.log")"
  # A limit crossed inside a round trips exactly there: of four pending
  # with 2 a day allowed, the two oldest are approved, the third trips the
  # limit, the fourth finds it tripped.
  policy "$W/pol-two.json" 'p["limits"] = {"total_per_day": 2}'
  expire_pending
  batch=()
  for k in 1 2 3 4; do add_request "INC-3100$k"; batch+=("$RID"); done
  once batchlim "$W/pol-two.json"
  python3 - "$W/st-batchlim/decisions.log" "${batch[@]}" <<'PY' || fail "the limit in a round: $(cat "$W/st-batchlim/decisions.log")"
import json, sys
got = [(l["request"], l["event"], l.get("rule")) for l in map(json.loads, open(sys.argv[1]))
       if l["event"] in ("approve", "decline")]
r = sys.argv[2:]
assert got == [(r[0], "approve", None), (r[1], "approve", None), (r[2], "decline", "rate_limit"),
               (r[3], "decline", "limit_tripped")], got
PY
  for k in 0 1 2 3; do
    [ "$(parts "${batch[$k]}")" = $((k < 2 ? 1 : 0)) ] || fail "request $k of the round has $(parts "${batch[$k]}") parts"
  done
  # The device cool-down counts an approval made earlier in the same round.
  policy "$W/pol-cool2.json" 'p["device_cooldown_seconds"] = 3600'
  expire_pending
  add_request INC-32001
  local first=$RID
  add_request INC-32002
  once batchcool "$W/pol-cool2.json"
  declined_by 3 device_cooldown
  [ "$(parts "$first")" = 1 ] || fail "the first of the round was not approved: $(cat "$W/st-batchcool/decisions.log")"
  ok "one round decides all pending requests with one commit before sending any; a limit or cool-down crossed inside it counts exactly"

  # A server whose queue lists ids that are not request ids (a path, a
  # header injection, ...): each is skipped, never stored or asked for,
  # and the real request of the same answer is answered.
  python3 "$KE_SRC/tests/server/t_retrieval_badqueue.py" "$W/badq.port" "$URL" &
  echo $! >"$W/badq.pid"
  for _ in $(seq 50); do [ -s "$W/badq.port" ] && break; sleep 0.1; done
  [ -s "$W/badq.port" ] || fail "the hostile queue proxy did not start"
  new_request
  once badq "$W/pol-b.json" --server "http://127.0.0.1:$(cat "$W/badq.port")"
  kill "$(cat "$W/badq.pid")"
  grep -q "lists 6 request ids not of the form" "$W/once.err" || fail "bad queue ids: $(cat "$W/once.err")"
  [ "$(parts "$RID")" = 1 ] || fail "the real request of a bad queue answer got no part: $(cat "$W/once.err")"
  python3 - "$W/st-badq/state.json" "$RID" <<'PY' || fail "bad ids stored: $(cat "$W/st-badq/state.json")"
import json, sys
assert list(json.load(open(sys.argv[1]))["decisions"]) == [sys.argv[2]]
PY
  ! grep -q -e passwd -e Injected -e AAAA "$W/st-badq/decisions.log" "$W/once.err" || fail "a bad id was logged"
  ok "queue ids that are not request ids are skipped, not stored or logged"

  # SIGABRT leaves no core file.
  mkdir -p "$W/cores"
  (cd "$W/cores" && ulimit -c unlimited && serve core 1 "$W/pol-b.json" && kill -ABRT "$(cat "$W/core.pid")" &&
    { wait "$(cat "$W/core.pid")" 2>/dev/null || true; })
  [ -z "$(ls -A "$W/cores")" ] || fail "a core file: $(ls "$W/cores")"
  ok "SIGABRT leaves no core file"
}

# wait_decline NAME RID RULE: daemon NAME declines RID naming RULE.
wait_decline() {
  local end=$((SECONDS + 20))
  until grep -q "\"request\":\"$2\",\"event\":\"decline\",\"rule\":\"$3\"" "$W/st-$1/decisions.log" 2>/dev/null; do
    [ $SECONDS -lt $end ] || fail "$1 did not decline $2 with $3: $(cat "$W/st-$1/decisions.log" "$W/$1.err")"
    sleep 0.05
  done
  RID=$2
  end=$((SECONDS + 20))
  until [ "$(sql "SELECT count(*) FROM retrieval_declines x JOIN retrievals q ON q.id = x.retrieval_id WHERE q.id = '$2' AND x.rule = '$3'")" = 1 ]; do
    [ $SECONDS -lt $end ] || fail "the decline $3 of $2 did not reach the server"
    sleep 0.05
  done
}
# wait_part RID N: RID has N parts.
wait_part() {
  local end=$((SECONDS + 20))
  until [ "$(parts "$1")" = "$2" ]; do
    [ $SECONDS -lt $end ] || fail "$1 has $(parts "$1") parts, not $2: $(tail -n 3 "$W"/*.err "$W"/st-*/decisions.log)"
    sleep 0.05
  done
}
# crash_once POINT [STATE]: custodian 3 (state STATE, default "crash") dies
# at POINT (the test hook ESCROWCTL_CUSTODIAN_CRASH: exit 70 there).
crash_once() {
  set +e
  ESCROWCTL_CUSTODIAN_CRASH=$1 ESCROWCTL_TOKEN=${CT[3]} "$ESCROWCTL_HOOKS" custodian serve --once \
    --policy "$W/pol-b.json" --share "$KD/custodian-3.share.json" --passphrase-file "$KD.pass/3" \
    --state "$W/st-${2:-crash}" >"$W/once.out" 2>"$W/once.err"
  RC=$?
  set -e
  [ "$RC" = 70 ] || fail "no crash at $1 ($RC): $(cat "$W/once.err")"
}
