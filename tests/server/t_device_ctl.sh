#!/usr/bin/env bash
# t_device_ctl.sh - escrowctl enroll-token create|list|revoke and escrow-key
# publish|show|set-state end to end against a real escrowd (a world of its
# own, t_device_lib.sh), including a device enrolling with the printed token
# and `show` catching a server that serves another key than it names.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/lib.sh"
. "$HERE/t_auth_lib.sh"
. "$HERE/t_device_lib.sh"
load_fixture
device_world dev
C=$KE_ESCROWCTL
FPR1=$(cat "$TW/k1/fpr")
FPR2=$(cat "$TW/k2/fpr")
M1=$TW/k1/keys/escrow-key.json
M2=$TW/k2/keys/escrow-key.json
export XDG_CONFIG_HOME=$TW/xdg HOME=$TW

# ctl WANT_RC ROLE CMD SUB ARGS...: run escrowctl as ROLE (API token); out/err files.
ctl() {
  local want=$1 role=$2 rc=0 tokvar
  shift 2
  tokvar=KE_DEV_${role^^}
  ESCROWCTL_TOKEN=${!tokvar} "$C" "$1" "$2" --server "$DEV_URL" "${@:3}" >"$TW/out" 2>"$TW/err" ||
    rc=$?
  [ "$rc" = "$want" ] || fail "escrowctl $* as $role: exit $rc, want $want: $(cat "$TW/err")"
}
out_has() { grep -q -- "$1" "$TW/out" || fail "stdout lacks '$1': $(cat "$TW/out")"; }
err_has() { grep -q -- "$1" "$TW/err" || fail "stderr lacks '$1': $(cat "$TW/err")"; }

# ---- escrow-key -------------------------------------------------------------
ctl 1 admin escrow-key show
err_has no_escrow_key
ctl 1 admin escrow-key publish --manifest "$M1" --fingerprint "$FPR2"
err_has "not the pinned --fingerprint"
ctl 5 helpdesk escrow-key publish --manifest "$M1"
ctl 2 admin escrow-key publish
ctl 2 admin escrow-key publish --manifest "$M1" --state retired
ctl 0 admin escrow-key publish --manifest "$M1" --fingerprint "$FPR1"
out_has "Escrow key $FPR1 is now current."
ctl 0 admin escrow-key publish --manifest "$M1"
out_has "was already current"
ctl 0 helpdesk escrow-key show --out "$TW/served.json"
out_has "fingerprint  $FPR1"
out_has "2 of 3 custodians"
out_has "1:ana 2:ben 3:cy"
python3 - "$M1" "$TW/served.json" <<'PY' || fail "escrow-key show --out wrote another manifest"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
assert a["commitments"] == b["commitments"] and a["fingerprint"] == b["fingerprint"], (a, b)
PY
ctl 1 admin escrow-key show --out "$TW/served.json"      # never replaced
ctl 0 admin escrow-key publish --manifest "$M2" --state accepted
out_has "Escrow key $FPR2 is now accepted."
ctl 0 admin escrow-key show --all
grep -Eq "^$FPR1 +current +2/3" "$TW/out" || fail "show --all: $(cat "$TW/out")"
grep -Eq "^$FPR2 +accepted +2/3" "$TW/out" || fail "show --all: $(cat "$TW/out")"
ctl 0 admin escrow-key show --fingerprint "$FPR2"
out_has "state        accepted"
ctl 0 admin escrow-key set-state --fingerprint "$FPR2" --state current
out_has "Escrow key $FPR2 is now current."
out_has "previous current key $FPR1 is now accepted"
ctl 1 admin escrow-key set-state --fingerprint "$FPR2" --state retired
err_has conflict
ctl 0 admin escrow-key set-state --fingerprint "$FPR1" --state retired
ctl 2 admin escrow-key set-state --fingerprint "$FPR1" --state gone
ctl 1 admin escrow-key set-state --fingerprint "$(cat "$TW/k3/fpr")" --state accepted
err_has not_found
# A server that serves another key under this key's fingerprint is caught.
ORIG=$(app_psql "$KE_DEV_OWNER_DSN" -c "SELECT manifest FROM escrow_keys WHERE fingerprint = '$FPR2'")
app_psql "$KE_DEV_OWNER_DSN" -c "UPDATE escrow_keys SET manifest = (SELECT manifest
  FROM escrow_keys WHERE fingerprint = '$FPR1') WHERE fingerprint = '$FPR2'" >/dev/null
ctl 1 helpdesk escrow-key show
err_has refusing
ok "escrow-key publish (pinned), show (verified, --out, --all), set-state, roles"

# ---- enroll-token -------------------------------------------------------------
app_psql "$KE_DEV_OWNER_DSN" -v m="$ORIG" >/dev/null <<SQL
UPDATE escrow_keys SET manifest = :'m' WHERE fingerprint = '$FPR2';
SQL
ctl 0 helpdesk escrow-key show
"$C" escrow-key publish --manifest "$M2" --server "$DEV_URL" >/dev/null 2>&1 &&
  fail "publish without a token"
ctl 2 admin enroll-token create --group lab --uses 3
ctl 2 admin enroll-token create --group lab --uses 3 --expires 10s
ctl 2 admin enroll-token create --group lab --uses 3 --expires 400d
ctl 2 admin enroll-token create --group lab --uses 0 --expires 1h
ctl 1 admin enroll-token create --group "-lab" --uses 3 --expires 1h
ctl 5 helpdesk enroll-token create --group lab --uses 3 --expires 1h
ctl 0 admin enroll-token create --group lab --uses 3 --expires 2h
TOKEN=$(cat "$TW/out")
[[ $TOKEN =~ ^ket_[A-Za-z0-9_-]{43}$ ]] || fail "create printed '$TOKEN'"
err_has "shown only this once"
[ "$(wc -l <"$TW/out")" = 1 ] || fail "create printed more than the token on stdout"
# A device enrols with it (the key of record is k2, current by now: its
# manifest was restored above).
python3 - "$DEV_URL" "$TOKEN" <<PY || fail "enrolment with the created token"
import sys
sys.path.insert(0, "$HERE")
from device_agent import Agent
r = Agent(sys.argv[1]).enroll(sys.argv[2])
assert r.status == 201, r
assert r.json["escrow_fingerprint"] == "$FPR2", r.json
PY
ctl 0 admin enroll-token list
grep -Eq "^[0-9]+ +lab +2/3 +1 .* active +user:dev-admin" "$TW/out" || fail "list: $(cat "$TW/out")"
ID=$(awk '$2 == "lab" {print $1}' "$TW/out")
ctl 0 admin enroll-token list --json
python3 -c 'import json,sys; t=json.load(open(sys.argv[1]))["enroll_tokens"][0]; assert t["uses_left"]==2 and "token" not in t, t' "$TW/out" ||
  fail "list --json"
ctl 0 admin enroll-token revoke "$ID"
out_has "Enrolment token $ID revoked."
ctl 0 admin enroll-token revoke "$ID"
out_has "was already revoked"
ctl 0 admin enroll-token list
grep -q " lab " "$TW/out" && fail "a revoked token is listed without --all"
ctl 0 admin enroll-token list --all
grep -Eq "^$ID +lab +2/3 +1 .* revoked " "$TW/out" || fail "list --all: $(cat "$TW/out")"
ctl 2 admin enroll-token revoke abc
ctl 2 admin enroll-token revoke
ctl 1 admin enroll-token revoke 999999
python3 - "$DEV_URL" "$TOKEN" <<PY || fail "enrolment with a revoked token"
import sys
sys.path.insert(0, "$HERE")
from device_agent import Agent
r = Agent(sys.argv[1]).enroll(sys.argv[2])
assert r.status == 401 and r.error_code() == "invalid_enrollment_token", r
PY
grep -rqF "$TOKEN" "$TW/xdg" "$DEV_LOG" && fail "the enrolment token was stored or logged"
ok "enroll-token create (token alone on stdout), list, revoke, roles; a device enrols with it"

# ---- device search|show|rotate|disable|enable ------------------------------------
ctl 0 admin enroll-token create --group lab --uses 1 --expires 1h
TOKEN=$(cat "$TW/out")
python3 - "$DEV_URL" "$TOKEN" "$TW/device" <<PY || fail "enrol and escrow a device"
import os, sys
sys.path.insert(0, "$HERE")
from device_agent import Agent
a = Agent(sys.argv[1])
assert a.enroll(sys.argv[2], hostname="ws-7731", serial="SN7731").status == 201
r, _ = a.escrow("C:", os.urandom(32), key_type="bitlocker",
                key_id="{5E6F7A8B-0000-1111-2222-333344445555}")
assert r.status == 201, r
open(sys.argv[3], "w").write(a.device)
PY
DEV=$(cat "$TW/device")
ctl 0 helpdesk device search ws-77
grep -Eq "^$DEV +ws-7731 +SN7731 +lab .* enabled +hostname" "$TW/out" || fail "search: $(cat "$TW/out")"
ctl 0 auditor device search 5e6f7a8b
grep -Eq "^$DEV .* key_id" "$TW/out" || fail "search by Key ID: $(cat "$TW/out")"
ctl 0 helpdesk device search no-such-host
err_has "no device matches"
ctl 0 helpdesk device search --json ws-77
python3 -c 'import json,sys; d=json.load(open(sys.argv[1]))["devices"]; assert len(d)==1 and d[0]["hostname"]=="ws-7731", d' "$TW/out" ||
  fail "search --json"
ctl 5 admin device search ws-77
ctl 2 helpdesk device search
ctl 0 helpdesk device show "$DEV"
out_has "hostname      ws-7731"
out_has "status        enabled"
grep -Eq "^rec-[a-z2-7]{26} +C: +bitlocker +\{5E6F7A8B-0000-1111- +active " "$TW/out" ||
  fail "show: $(cat "$TW/out")"
ctl 1 helpdesk device show "dev-aaaaaaaaaaaaaaaaaaaaaaaaaa"
err_has not_found
ctl 5 auditor device rotate --reason "exposed" "$DEV"
ctl 2 helpdesk device rotate "$DEV"
ctl 1 helpdesk device rotate --reason "exposed" --volume D: "$DEV"
err_has conflict
ctl 0 helpdesk device rotate --reason "key shown on a shared screen" "$DEV"
err_has "device $DEV, volume C:: rotation requested"
ctl 0 helpdesk device show "$DEV"
out_has "requested .* by user:dev-helpdesk"
ctl 5 helpdesk device disable --reason stolen "$DEV"
ctl 2 admin device disable "$DEV"
ctl 0 admin device disable --reason "stolen, ticket 4711" "$DEV"
err_has "device $DEV disabled"
ctl 0 auditor device show "$DEV"
out_has "DISABLED since .* by user:dev-admin: stolen, ticket 4711"
ctl 0 admin device disable --reason "stolen, ticket 4711" "$DEV"
err_has "it already was"
ctl 5 helpdesk device enable "$DEV"
ctl 0 admin device enable "$DEV"
err_has "device $DEV enabled"
ctl 0 helpdesk device show --json "$DEV"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["device"]["disabled"] is False and d["records"][0]["rotate_reason"]=="key shown on a shared screen", d' "$TW/out" ||
  fail "show --json"
ok "device search, show, rotate, disable, enable; roles and errors"
stop_daemon dev
ok "escrowctl enroll-token and escrow-key"
