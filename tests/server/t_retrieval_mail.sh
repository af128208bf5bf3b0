# t_retrieval_mail.sh - the `mail` case of t_retrieval.sh (sourced there):
# notification mail through a real SMTP relay on loopback (smtp_sink.py,
# Debian's python3-aiosmtpd, STARTTLS required) - see docs/operations.md
# "Notification mail".

MAILDIR=$TW/mail
SINK_PID=
SINK_PY=/usr/bin/python3   # Debian's, which has python3-aiosmtpd

# sink_start [--plain]: the relay on the port of the first start (a
# restarted relay), with STARTTLS unless --plain.
sink_start() {
  local tls=(--cert "$TW/smtp-cert.pem" --key "$TW/smtp-key.pem") port=()
  [ "${1:-}" = --plain ] && tls=()
  [ -s "$TW/smtp.port" ] && port=(--port "$(cat "$TW/smtp.port")")
  rm -f "$TW/smtp.port.now"
  "$SINK_PY" "$KE_SRC/tests/server/smtp_sink.py" "$TW/smtp.port.now" "$MAILDIR" "${port[@]}" \
    "${tls[@]}" 2>>"$TW/sink.log" &
  SINK_PID=$!
  for _ in $(seq 100); do [ -s "$TW/smtp.port.now" ] && break; sleep 0.05; done
  [ -s "$TW/smtp.port.now" ] || fail "the SMTP relay did not start: $(tail -n 5 "$TW/sink.log")"
  [ -s "$TW/smtp.port" ] || cp "$TW/smtp.port.now" "$TW/smtp.port"
}
sink_stop() {
  [ -n "$SINK_PID" ] || return 0
  kill "$SINK_PID" 2>/dev/null || true
  wait "$SINK_PID" 2>/dev/null || true
  SINK_PID=
}

mail_relay_setup() {
  "$SINK_PY" -c 'import aiosmtpd' 2>/dev/null || fail "python3-aiosmtpd missing: run scripts/deps.sh"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
    -keyout "$TW/smtp-key.pem" -out "$TW/smtp-cert.pem" >/dev/null 2>&1 || fail "openssl req"
  sink_start
  trap 'rc=$?; kill $HOOK_PID 2>/dev/null; sink_stop; drop_private_db; (exit $rc); cleanup_test' EXIT
  # Reminders are made due by moving the request's creation back (below),
  # not by waiting: the delay here is longer than the test.
  MAIL_ENV=(ESCROWD_SMTP_URL="smtp://127.0.0.1:$(cat "$TW/smtp.port")"
            ESCROWD_SMTP_FROM=keyescrow@example.test ESCROWD_SMTP_CA_FILE="$TW/smtp-cert.pem"
            ESCROWD_MAIL_REMINDER_AFTER=3600)
  # The webhook receiver also takes the Slack- and Teams-shaped messages.
  local hook=http://127.0.0.1:$(cat "$TW/hook.port")
  MAIL_ENV+=(ESCROWD_WEBHOOK_URLS="$hook/hook,slack:$hook/slack,teams:$hook/teams")
}

# mails KIND: how many stored messages have this subject word.
mails() {
  local n=0 f
  for f in "$MAILDIR"/*.eml; do
    [ -f "$f" ] && grep -q "^Subject: \[keyescrow\] $1: " "$f" && n=$((n + 1))
  done
  echo $n
}
# wait_mails KIND N SECONDS: until N mails of KIND arrived, or fail.
wait_mails() {
  local end=$((SECONDS + $3))
  while [ "$(mails "$1")" -lt "$2" ]; do
    [ $SECONDS -lt "$end" ] || fail "$(mails "$1") of $2 '$1' mails within $3 s: $(sql "SELECT kind, attempts, last_error FROM mail_outbox")"
    sleep 0.1
  done
}

# expect_metric LINE WHAT: /metrics has exactly this line.
expect_metric() {
  http GET "$URL/metrics"
  grep -qxF "$1" "$BODYF" || fail "metrics, $2: no '$1' in: $(grep "${1%%[{ ]*}" "$BODYF")"
}

case_mail() {
  # Addresses: admins set them; a custodian without one (c5) gets nothing.
  for i in 1 2 3 4; do
    ESCROWCTL_TOKEN=$ADMIN "$ESCROWCTL" user set-email "c$i" --email "c$i@example.test" >"$W/se.out" 2>&1 ||
      fail "user set-email: $(cat "$W/se.out")"
  done
  jpost "$URL/v1/users/c5/email" "$ADMIN" '{"email":"Bob <bob@example.test>"}'
  expect_error bad_request "a display name is not an address"
  jpost "$URL/v1/users/c5/email" "$ADMIN" '{"email":"b@x\r\nBcc: all@example.test"}'
  expect_error bad_request "CR LF in an address"
  jpost "$URL/v1/users/c5/email" "$HD" '{"email":"c5@example.test"}'
  expect_status 403 "helpdesk sets an address"
  [ "$(sql "SELECT count(*) FROM users WHERE email IS NOT NULL")" = 4 ] || fail "addresses not stored"
  [ "$(ev_count user.email)" -ge 4 ] || fail "user.email not audited"
  ok "admins set custodians' addresses (audited); bad ones and other roles are refused"

  hd key register >"$W/kr.out" 2>&1 || fail "key register: $(cat "$W/kr.out")"
  "$ESCROWCTL" pin add hd1 "$(sed -n 's/.*fingerprint \([0-9a-f]*\)$/\1/p' "$W/kr.out")" >/dev/null ||
    fail "pin add"
  local t0; t0=$(date +%s%N)
  start_retrieve m1 --device host-bde --volume C: --reason "user locked out after BIOS update" \
    --ticket INC-4242
  [ -n "$RID" ] || fail "no request: $(cat "$W/m1.err")"
  wait_mails Request 4 5
  expect_metric 'escrowd_retrieval_pending_requests{age="0-5m"} 1' "a new request"
  ok "a new request reaches every custodian with an address within $(( ($(date +%s%N) - t0) / 1000000 )) ms"

  local code
  code=$(sql "SELECT code FROM retrievals WHERE id = '$RID'")
  /usr/bin/python3 - "$MAILDIR" "$RID" "$code" "$PW" <<'PY' || fail "mail content"
import email, email.policy, glob, sys
d, rid, code, secret = sys.argv[1:5]
to = set()
for f in sorted(glob.glob(d + "/*.eml")):
    raw = open(f, "rb").read()
    m = email.message_from_bytes(raw, policy=email.policy.default)
    assert m["X-Sink-TLS"] == "yes", "delivered without TLS"
    body = m.get_body().get_content()
    for want in (rid, "host-bde", "C:", "hd1", "user locked out after BIOS update", "INC-4242"):
        assert want in body, (want, body)
    assert m["From"] == "keyescrow@example.test" and m["Message-ID"] and m["Date"], m
    assert m["Auto-Submitted"] == "auto-generated"
    for bad in (code, secret, secret.replace("-", "")):
        assert bad not in raw.decode("utf-8", "replace"), "a mail carries %r" % bad
    to.add(m["X-Sink-Rcpt"])
assert to == {"c%d@example.test" % i for i in (1, 2, 3, 4)}, to
PY
  ok "each mail names request, device, volume, requester, reason and ticket; none carries the confirmation code or the key"

  # A reminder, once, to the custodians who have not contributed (not c1).
  approve 1 "$RID"
  [ "$RC" = 0 ] || fail "approve c1: $(cat "$W/ap.1")"
  own "UPDATE retrievals SET created = now() - interval '2 hours' WHERE id = '$RID'" >/dev/null
  expect_metric 'escrowd_retrieval_pending_requests{age="1h-4h"} 1' "a request of two hours"
  expect_metric 'escrowd_retrieval_pending_requests{age="0-5m"} 0' "a request of two hours"
  grep -Eq '^escrowd_retrieval_pending_oldest_seconds 7[2-9][0-9]{2}$' "$BODYF" ||
    fail "oldest pending: $(grep pending_oldest "$BODYF")"
  wait_mails Reminder 3 10
  grep -l "^Subject: \[keyescrow\] Reminder: " "$MAILDIR"/*.eml | xargs grep -h '^X-Sink-Rcpt:' | tr -d '\r' | sort >"$W/rem.to"
  printf 'X-Sink-Rcpt: c%s@example.test\n' 2 3 4 | cmp -s - "$W/rem.to" || fail "reminded: $(cat "$W/rem.to")"
  [ "$(sql "SELECT count(*) FROM mail_reminders WHERE retrieval_id = '$RID'")" = 1 ] || fail "reminder not recorded"
  ok "a waiting request reminds the custodians who have not contributed, once"

  # A relay that offers no STARTTLS gets nothing in clear; one that is down
  # delays the mail; once a proper relay is back, every mail arrives.
  sink_stop
  sink_start --plain
  approve 2 "$RID"; [ "$RC" = 0 ] || fail "approve c2: $(cat "$W/ap.2")"
  approve 3 "$RID"; [ "$RC" = 0 ] || fail "approve c3: $(cat "$W/ap.3")"
  wait_retrieve m1
  [ "$RC" = 0 ] && [ "$(cat "$W/m1.secret")" = "$PW" ] || fail "retrieve: $(cat "$W/m1.err")"
  # Two hours and a little from the (moved) creation to the third part.
  expect_metric 'escrowd_retrieval_time_to_key_seconds_count 1' "the completed request"
  expect_metric 'escrowd_retrieval_time_to_key_seconds_bucket{le="7200"} 0' "time to key"
  expect_metric 'escrowd_retrieval_time_to_key_seconds_bucket{le="14400"} 1' "time to key"
  expect_metric 'escrowd_retrieval_pending_oldest_seconds 0' "no request waits"
  ok "metrics: the pending requests by age, the oldest, and the time to key histogram"
  local end=$((SECONDS + 15))
  until [ "$(sql "SELECT count(*) FROM mail_outbox WHERE kind = 'completed' AND attempts >= 1 AND delivered IS NULL AND last_error IS NOT NULL")" = 4 ]; do
    [ $SECONDS -lt "$end" ] || fail "no failed attempt: $(sql "SELECT kind, attempts, last_error FROM mail_outbox")"
    sleep 0.1
  done
  [ "$(mails Completed)" = 0 ] || fail "a mail went to a relay without STARTTLS"
  sink_stop
  end=$((SECONDS + 15))
  until [ "$(sql "SELECT min(attempts) FROM mail_outbox WHERE kind = 'completed'")" -ge 2 ]; do
    [ $SECONDS -lt "$end" ] || fail "no attempt while the relay is down"
    sleep 0.1
  done
  # An address removed while its mail waits: that mail fails (recorded,
  # retried, given up in time), and it holds up no other.
  ESCROWCTL_TOKEN=$ADMIN "$ESCROWCTL" user set-email c4 --email '' >"$W/se.out" 2>&1 ||
    fail "user set-email c4 '': $(cat "$W/se.out")"
  local c4_tries
  c4_tries=$(sql "SELECT o.attempts FROM mail_outbox o JOIN users u ON u.id = o.recipient_id WHERE u.name = 'c4' AND o.kind = 'completed'")
  sink_start
  wait_mails Completed 3 20
  end=$((SECONDS + 40)) # its next try is up to 16 s away (the backoff)
  until [ "$(sql "SELECT count(*) FROM mail_outbox o JOIN users u ON u.id = o.recipient_id WHERE u.name = 'c4' AND o.kind = 'completed' AND o.attempts > $c4_tries AND o.last_error LIKE '%no mail address%'")" = 1 ]; do
    [ $SECONDS -lt "$end" ] || fail "the mail to a removed address: $(sql "SELECT kind, attempts, last_error FROM mail_outbox")"
    sleep 0.1
  done
  [ "$(sql "SELECT count(*) FROM mail_outbox o JOIN users u ON u.id = o.recipient_id WHERE delivered IS NULL AND u.name <> 'c4'")" = 0 ] ||
    fail "mails left undelivered"
  grep -q '"msg":"notification mail failed"' "$TW/main.log" || fail "the failures were not logged"
  ok "no mail to a relay without STARTTLS; a relay that is down delays the mail and loses none; a removed address fails alone"

  # Chat: the same events, in the incoming-webhook shapes of Slack and Teams.
  end=$((SECONDS + 15))
  until [ "$(grep -c '"status": 204, "path": "/teams"' "$W/hook.log")" -ge 3 ] &&
        [ "$(grep -c '"status": 204, "path": "/slack"' "$W/hook.log")" -ge 3 ]; do
    [ $SECONDS -lt "$end" ] || fail "chat messages: $(sql "SELECT id, url, event, attempts, last_error, delivered FROM webhook_outbox") $(cat "$W/hook.log")"
    sleep 0.1
  done
  /usr/bin/python3 - "$W/hook.log" "$RID" "$code" "$PW" <<'PY' || fail "chat payloads: $(cat "$W/hook.log")"
import json, sys
log, rid, code, secret = sys.argv[1:5]
lines = [json.loads(l) for l in open(log)]
seen = {"/slack": 0, "/teams": 0}
for l in lines:
    if l["path"] not in seen or l["status"] != 204:
        continue
    raw = l["body"]
    assert code not in raw and secret not in raw, "a chat message carries the code or the key"
    b = json.loads(raw)
    if l["path"] == "/slack":
        # api.slack.com/messaging/webhooks: text (the notification) and Block Kit blocks
        assert isinstance(b["text"], str) and rid in b["text"], b
        hdr, sec = b["blocks"]
        assert hdr["type"] == "header" and hdr["text"]["type"] == "plain_text" and len(hdr["text"]["text"]) <= 150
        assert sec["type"] == "section" and 1 <= len(sec["fields"]) <= 10
        for f in sec["fields"]:
            assert f["type"] in ("plain_text", "mrkdwn") and isinstance(f["text"], str) and len(f["text"]) <= 2000
        assert set(b) == {"text", "blocks"}
    else:
        # Teams: a message with one Adaptive Card attachment
        assert b["type"] == "message" and len(b["attachments"]) == 1, b
        a = b["attachments"][0]
        assert a["contentType"] == "application/vnd.microsoft.card.adaptive" and a["contentUrl"] is None
        c = a["content"]
        assert c["type"] == "AdaptiveCard" and c["version"] == "1.4" and c["$schema"].startswith("http://adaptivecards.io/")
        title, facts = c["body"]
        assert title["type"] == "TextBlock" and isinstance(title["text"], str)
        assert facts["type"] == "FactSet"
        kv = {f["title"]: f["value"] for f in facts["facts"]}
        assert all(isinstance(v, str) for v in kv.values())
        assert kv["Request"] == rid and kv["Device"] == "host-bde" and kv["Requester"] == "hd1", kv
        assert kv["Ticket"] == "INC-4242" and kv["Reason"] == "user locked out after BIOS update", kv
    seen[l["path"]] += 1
assert seen["/slack"] >= 3 and seen["/teams"] >= 3, seen
PY
  ok "chat webhooks get Slack- and Teams-shaped messages naming request, device, requester, reason, ticket; no code"
  ! grep -q "$PW\|$code" "$TW/main.log" || fail "the server log carries the code or the key"
}
