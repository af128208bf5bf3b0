#!/usr/bin/env bash
# t_policy.sh ESCROWCTL WORKDIR - `escrowctl custodian check-policy`: a
# policy custodian's policy file is strict, and every error names the key
# and its line (issue 14: the daemon never starts half-configured).  Also
# the version of its state.json (rearm, trust-key).
set -euo pipefail
CTL=$1 W=$2
rm -rf "$W" && mkdir -p "$W"
fail() { echo "[ctl-policy] FAIL: $*"; exit 1; }
ok() { echo "[ctl-policy] ok: $*"; }

# bad LINE-AND-MESSAGE JSON: check-policy refuses JSON with that message.
bad() {
  printf '%s\n' "$2" >"$W/p.json"
  if "$CTL" custodian check-policy "$W/p.json" >"$W/out" 2>&1; then
    fail "accepted: $2"
  fi
  grep -qF -- "$1" "$W/out" || fail "want \"$1\" for: $2
got: $(cat "$W/out")"
}
base='"requesters": {"accounts": ["hd1"]},
 "limits": {"total_per_day": 10},
 "alarm": {"webhooks": ["https://hooks.example.test/x"]}'

bad 'line 2: busines_hours: unknown key' "{
 \"busines_hours\": {}, $base}"
bad 'line 1: requesters.acounts: unknown key' '{"requesters": {"acounts": ["hd1"]}}'
bad 'line 4: reason_min_length: expected a whole number, 0 to 500' "{$base,
 \"reason_min_length\": 501}"
bad 'line 4: ticket_pattern: not a POSIX extended regular expression' "{$base,
 \"ticket_pattern\": \"INC-(\"}"
bad 'business_hours.time_zone: no such time zone: Mars/Olympus' "{$base,
 \"business_hours\": {\"time_zone\": \"Mars/Olympus\", \"days\": [\"mon\"], \"start\": \"08:00\", \"end\": \"18:00\"}}"
bad 'line 4: business_hours.days: "someday" is not a day' "{$base,
 \"business_hours\": {\"time_zone\": \"UTC\", \"days\": [\"someday\"], \"start\": \"08:00\", \"end\": \"18:00\"}}"
bad 'business_hours.start: expected a time "HH:MM"' "{$base,
 \"business_hours\": {\"time_zone\": \"UTC\", \"days\": [\"mon\"], \"start\": \"8am\", \"end\": \"18:00\"}}"
bad 'record_states: "deleted" is not a record state' "{$base, \"record_states\": [\"deleted\"]}"
bad 'requesters.roles: "root" is not a role' '{"requesters": {"roles": ["root"]}}'
bad 'limits: total_per_hour or total_per_day is required' '{"requesters": {"accounts": ["hd1"]},
 "limits": {"requester_per_hour": 2}, "alarm": {"webhooks": ["https://h.example.test/x"]}}'
bad 'line 4: unknown key "requesters.accounts"' "{$base,
 \"requesters.accounts\": [\"x\"]}"
bad 'requester_keys: hd1: expected 64 lower-case hex digits' "{$base, \"requester_keys\": {\"hd1\": \"$(printf 'AB%.0s' $(seq 32))\"}}"
bad 'alarm: at least one webhook or mail address is required' '{"requesters": {"accounts": ["hd1"]},
 "limits": {"total_per_day": 1}}'
bad 'alarm.webhooks: "http://hooks.example.test/x": https://' '{"requesters": {"accounts": ["hd1"]},
 "limits": {"total_per_day": 1}, "alarm": {"webhooks": ["http://hooks.example.test/x"]}}'
bad 'alarm: mail_to needs smtp_url and smtp_from' '{"requesters": {"accounts": ["hd1"]},
 "limits": {"total_per_day": 1}, "alarm": {"mail_to": ["a@example.test"]}}'
bad 'requester_keys: hd1: expected 64 lower-case hex digits' "{$base, \"requester_keys\": {\"hd1\": \"abc\"}}"
bad 'ticket_check.url: https://' "{$base, \"ticket_check\": {\"url\": \"ftp://itsm.example.test/\"}}"
bad 'line 2: unexpected token near end of file' '{"requesters": '
bad 'duplicate object key' "{$base, \"limits\": {\"total_per_day\": 1}}"
ok "unknown keys, types, ranges, regexes, time zones, days, roles, states, channels, pins and JSON errors are refused, each naming its key (and line)"

cat >"$W/good.json" <<'JSON'
{
  "requesters": {"accounts": ["hd1"], "roles": ["helpdesk"]},
  "reason_min_length": 10,
  "ticket_pattern": "^INC-[0-9]{6}$",
  "device_groups": {"allow": ["laptops"], "deny": ["executives"]},
  "business_hours": {"time_zone": "Europe/Berlin", "days": ["mon", "tue", "wed", "thu", "fri"],
                     "start": "07:30", "end": "19:00"},
  "device_cooldown_seconds": 86400,
  "limits": {"requester_per_hour": 3, "requester_per_day": 10, "total_per_day": 40},
  "alarm": {"webhooks": ["slack:https://hooks.slack.example.test/T1"]}
}
JSON
"$CTL" custodian check-policy "$W/good.json" >"$W/out" 2>&1 || fail "a good policy: $(cat "$W/out")"
for want in "requester account (signed by their client key) is one of: hd1" \
            "the ticket matches /^INC-[0-9]{6}$/" "the device's group is none of: executives" \
            "the record's state is one of: active" "between 07:30 and 19:00 in Europe/Berlin, on mon tue wed thu fri" \
            "no approval for the same device in the last 86400 s" "at most 3 approvals per requester per hour" \
            "at most 40 approvals in total per day" "Alarm to: slack:https://hooks.slack.example.test/T1" \
            "the requester's client key is the one pinned in the policy or by"; do
  grep -qF -- "$want" "$W/out" || fail "check-policy does not say \"$want\": $(cat "$W/out")"
done
ok "check-policy says what a good policy allows (a missing record_states means active records only)"

# The state's version (F4): a newer one is refused and left as it is, one
# without a version is damaged, and version 1 (the first, unreleased
# format: one "alarm_pending" flag) is upgraded, keeping its trip.
mkdir -m 0700 "$W/st"
state() { printf '%s\n' "$1" >"$W/st/state.json"; }
state '{"version": 3, "tripped": null, "alarm": null, "rearmed": 0, "trips": 0, "approvals": [], "decisions": {}, "pins": {}, "new": 1}'
cp "$W/st/state.json" "$W/st.before"
if "$CTL" custodian rearm --state "$W/st" >"$W/out" 2>&1; then fail "a state of version 3 accepted"; fi
grep -qF "is of state version 3, newer than this escrowctl reads (2)" "$W/out" || fail "version 3: $(cat "$W/out")"
cmp -s "$W/st/state.json" "$W/st.before" || fail "a newer state was rewritten"
state '{"tripped": null, "approvals": [], "decisions": {}, "pins": {}}'
if "$CTL" custodian rearm --state "$W/st" >"$W/out" 2>&1; then fail "a state without a version accepted"; fi
grep -qF "is damaged" "$W/out" || fail "no version: $(cat "$W/out")"
state '{"version": 1, "tripped": {"what": "limits.total_per_day (2) reached", "time": 5}, "rearmed": 0, "alarm_pending": true, "approvals": [], "decisions": {}, "pins": {}}'
"$CTL" custodian trust-key --state "$W/st" hd1 "$(printf 'ab%.0s' $(seq 32))" >"$W/out" 2>&1 || fail "trust-key on a version 1 state: $(cat "$W/out")"
python3 - "$W/st/state.json" <<'PY' || fail "version 1 upgraded to: $(cat "$W/st/state.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["version"] == 2 and "alarm_pending" not in s, s
assert s["tripped"] == {"what": "limits.total_per_day (2) reached", "time": 5, "seq": 1}, s
assert s["trips"] == 1 and s["alarm"] == {"seq": 1, "sent": []}, s
assert s["pins"] == {"hd1": "ab" * 32}, s
PY
rm -rf "$W/st2"
"$CTL" custodian rearm --state "$W/st2" >"$W/out" 2>&1 || fail "rearm on a new state: $(cat "$W/out")"
python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["version"] == 2' "$W/st2/state.json" ||
  fail "a new state is not of version 2: $(cat "$W/st2/state.json")"
ok "custodian state: version 2 written; a newer version refused untouched, none is damaged, version 1 upgraded with its trip"
