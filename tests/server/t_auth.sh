#!/usr/bin/env bash
# Accounts on a private database and escrowd: bootstrap-admin (once only,
# one-time password), login (success, failure, one-time password change),
# users and tokens endpoints, revoked/expired/disabled tokens, logout, the
# last-admin guard, strict request validation, rate limits per account and
# source and per address (more in t_login_limits.sh), and the audit trail of it all (without any password).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/t_auth_lib.sh"
load_fixture
make_private_db

PW_ADMIN='admin-pass-0123456789'
PW_HD='helpdesk-pass-0123'

# ---- bootstrap-admin ------------------------------------------------------
rc=0; priv_escrowd bootstrap-admin --user 'Bad Name' >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "bootstrap-admin accepted a bad name ($rc)"
printf 'short\n' >"$TW/short.pw"
rc=0; priv_escrowd bootstrap-admin --user root --password-file "$TW/short.pw" >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "bootstrap-admin accepted a short password ($rc)"
priv_escrowd bootstrap-admin --user root >"$TW/boot.out" 2>"$TW/boot.err" || fail "bootstrap-admin: $(cat "$TW/boot.err")"
OTP=$(tail -n1 "$TW/boot.out")
[ ${#OTP} -ge 20 ] || fail "no one-time password printed: $(cat "$TW/boot.out")"
printf '%s\n' "$PW_ADMIN" >"$TW/admin.pw"
rc=0; priv_escrowd bootstrap-admin --user other --password-file "$TW/admin.pw" >"$TW/boot2.out" 2>&1 || rc=$?
[ $rc -eq 1 ] && grep -q 'already has users' "$TW/boot2.out" || fail "second bootstrap-admin ($rc): $(cat "$TW/boot2.out")"
[ "$(app_psql "$PRIV_APP_DSN" -c 'SELECT count(*) FROM users')" = 1 ] || fail "user count after bootstraps"
ok "bootstrap-admin creates the first admin once, refuses bad input and a populated database"

start_private acct ESCROWD_LOGIN_MAX_FAILURES=3 ESCROWD_LOGIN_MAX_ADDRESS_FAILURES=5 \
  ESCROWD_LOGIN_LOCKOUT=60 ESCROWD_TRUSTED_PROXIES=127.0.0.1
U=http://127.0.0.1:$PORT_acct

# ---- login and the one-time password --------------------------------------
login_body() { python3 -c 'import json,sys; d={"user":sys.argv[1],"password":sys.argv[2]}
if len(sys.argv) > 3: d["new_password"] = sys.argv[3]
print(json.dumps(d))' "$@"; }
jpost "$U/v1/login" "" "$(login_body root "$OTP")"
expect_status 403 "login with the one-time password"
expect_error password_change_required "one-time password"
jpost "$U/v1/login" "" "$(login_body root "$OTP" "$PW_ADMIN")"
expect_status 200 "login changing the one-time password"
ADMIN=$(json_get token)
[ "$(json_get role)" = admin ] && [ "$(json_get token_type)" = Bearer ] || fail "login answer"
jpost "$U/v1/login" "" "$(login_body root "$OTP")"
expect_status 401 "the one-time password still works after the change"
expect_error invalid_credentials "old one-time password"
expect_header '^WWW-Authenticate: Bearer' "401 on login"
jpost "$U/v1/login" "" "$(login_body nosuchuser "$PW_ADMIN")"
expect_status 401 "unknown user"
expect_error invalid_credentials "unknown user"
jcall GET "$U/v1/users" "$ADMIN"
expect_status 200 "GET /v1/users as admin"
[ "$(json_get users.0.name)" = root ] || fail "user list"
ok "login: one-time password must be changed; failures are one indistinct 401"

# ---- behind a trusted proxy: the audit log names the client ----------------------
# 127.0.0.1 is a trusted proxy here: the rightmost untrusted X-Forwarded-For
# entry is the source; the client's own (leftmost) entry is not believed.
audit_src() {  # OBJECT: the source address of its audit events
  app_psql "$PRIV_APP_DSN" -c "SELECT convert_from(leaf, 'UTF8') FROM audit_log UNION ALL
    SELECT convert_from(leaf_head || '\x2c'::bytea || leaf_tail, 'UTF8') FROM audit_queue" |
    python3 -c 'import json, sys
for l in sys.stdin:
    e = json.loads(l)
    if e.get("object") == sys.argv[1]: print(e["src"])' "$1"
}
jpost "$U/v1/login" "" "$(login_body xff-probe-$$ "wrong-password-xx")" \
  -H 'X-Forwarded-For: 198.51.100.66, 203.0.113.9'
expect_status 401 "login failure through a proxy"
src=$(audit_src "user:xff-probe-$$")
[ "$src" = 203.0.113.9 ] || fail "audit source behind a trusted proxy: '$src'"
# A proxy that adds its own header line after the client's (HAProxy): the
# last line is the proxy's, the client's earlier line is not believed.
jpost "$U/v1/login" "" "$(login_body xff-probe2-$$ "wrong-password-xx")" \
  -H 'X-Forwarded-For: 198.51.100.66' -H 'X-Forwarded-For: 203.0.113.10'
expect_status 401 "login failure through a proxy that adds a header line"
src=$(audit_src "user:xff-probe2-$$")
[ "$src" = 203.0.113.10 ] || fail "audit source with two X-Forwarded-For lines: '$src'"
grep -q '"remote":"203.0.113.9".*"proxy":"127.0.0.1"' "$TW/acct.log" ||
  fail "the request log does not name client and proxy"
ok "behind a trusted proxy the audit log and the request log name the client"

# ---- strict input: 400 JSON, and the server keeps serving ------------------
bad_post() {  # path token body code what
  jpost "$U$1" "$2" "$3"
  expect_status 400 "$5"
  expect_error "$4" "$5"
}
bad_post /v1/login "" 'not json' malformed_json "login: not JSON"
bad_post /v1/login "" '[1,2]' malformed_json "login: an array"
bad_post /v1/login "" '{"user":"root","password":"x","password":"y"}' malformed_json "login: duplicate key"
bad_post /v1/login "" '{"user":1,"password":"x"}' bad_request "login: user not a string"
bad_post /v1/login "" '{"user":"root","password":["x"]}' bad_request "login: password not a string"
bad_post /v1/login "" '{"user":"root"}' bad_request "login: no password"
bad_post /v1/login "" '{"user":"root","password":"x","admin":true}' bad_request "login: unknown member"
bad_post /v1/login "" '{"user":"root","password":"x","new_password":"short"}' bad_request "login: short new password"
bad_post /v1/users "$ADMIN" '{"name":"x1","role":"admin","extra":1}' bad_request "users: unknown member"
bad_post /v1/users "$ADMIN" '{"name":"X Y","role":"admin"}' bad_request "users: bad name"
bad_post /v1/users "$ADMIN" '{"name":"x1","role":"root"}' bad_request "users: bad role"
bad_post /v1/users "$ADMIN" '{"name":"x1","role":"agent"}' bad_request "users: agent is not a human role"
bad_post /v1/users "$ADMIN" '{"name":"x1","role":"admin","password":"tooshort"}' bad_request "users: short password"
bad_post /v1/users "$ADMIN" '{"name":"x1","role":"admin","password":12345678901234}' bad_request "users: password not a string"
bad_post /v1/users "$ADMIN" '{"name":"x1","role":"custodian"}' bad_request "users: custodian without index"
bad_post /v1/users "$ADMIN" '{"name":"x1","role":"custodian","custodian_index":256}' bad_request "users: index 256"
bad_post /v1/users "$ADMIN" '{"name":"x1","role":"helpdesk","custodian_index":3}' bad_request "users: index for helpdesk"
bad_post /v1/users "$ADMIN" '{"name":"x1","role":"admin"' malformed_json "users: truncated"
bad_post /v1/tokens "$ADMIN" '{"name":"t","expires_in":5}' bad_request "tokens: expires_in too small"
bad_post /v1/tokens "$ADMIN" '{"name":"t","expires_in":"60"}' bad_request "tokens: expires_in a string"
http POST "$U/v1/users" -H "Authorization: Bearer $ADMIN" -H 'Content-Type: text/plain' --data-binary '{}'
expect_status 415 "users: wrong content type"
expect_serving "$U" "malformed requests"
ok "malformed JSON, wrong types, unknown members: 400 JSON errors; still serving"

# ---- users -------------------------------------------------------------------
jpost "$U/v1/users" "$ADMIN" "{\"name\":\"hd1\",\"role\":\"helpdesk\",\"password\":\"$PW_HD\"}"
expect_status 201 "create helpdesk"
[ "$(json_get password_must_change)" = false ] || fail "a given password must not need a change"
jpost "$U/v1/users" "$ADMIN" '{"name":"cust7","role":"custodian","custodian_index":7}'
expect_status 201 "create custodian"
[ -n "$(json_get one_time_password)" ] && [ "$(json_get custodian_index)" = 7 ] || fail "custodian answer"
jpost "$U/v1/users" "$ADMIN" '{"name":"cust7","role":"auditor"}'
expect_status 409 "duplicate name"; expect_error conflict "duplicate name"
jpost "$U/v1/users" "$ADMIN" '{"name":"cust7b","role":"custodian","custodian_index":7}'
expect_status 409 "duplicate custodian index"; expect_error conflict "duplicate index"
jpost "$U/v1/users" "$ADMIN" '{"name":"aud1","role":"auditor"}'
expect_status 201 "create auditor"
jpost "$U/v1/users/aud1/role" "$ADMIN" '{"role":"helpdesk"}'
expect_status 200 "set-role"
[ "$(json_get previous_role)" = auditor ] && [ "$(json_get role)" = helpdesk ] || fail "set-role answer"
jpost "$U/v1/users/aud1/role" "$ADMIN" '{"role":"auditor"}'
expect_status 200 "set-role back"
jpost "$U/v1/users/nobody/disable" "$ADMIN" ''
expect_status 404 "disable an unknown user"; expect_error not_found "disable unknown"
jpost "$U/v1/users/root/disable" "$ADMIN" ''
expect_status 409 "disable the last admin"; expect_error conflict "last admin"
jpost "$U/v1/users/root/role" "$ADMIN" '{"role":"auditor"}'
expect_status 409 "demote the last admin"
jcall GET "$U/v1/users" "$ADMIN"
[ "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["users"]))' "$BODYF")" = 4 ] ||
  fail "user list: $(cat "$BODYF")"
ok "users: create (given or one-time password), conflicts, set-role, last-admin guard"

# ---- tokens: API token, revoked, expired, disabled user ----------------------
# An admin mints tokens for service accounts and for themself only: never
# for an account of a person (helpdesk, custodian, auditor, another admin).
jpost "$U/v1/users" "$ADMIN" '{"name":"adm2","role":"admin","password":"another-admin-pw-1"}'
expect_status 201 "create a second admin"
for who in hd1 cust7 aud1 adm2; do
  jpost "$U/v1/tokens" "$ADMIN" "{\"name\":\"as $who\",\"expires_in\":3600,\"user\":\"$who\"}"
  expect_status 403 "an admin minting a token for $who (a person)"; expect_error forbidden "token for $who"
done
[ "$(app_psql "$PRIV_APP_DSN" -c "SELECT count(*) FROM auth_tokens WHERE kind = 'api'")" = 0 ] ||
  fail "a token was stored for a person"
bad_post /v1/users "$ADMIN" '{"name":"svc1","role":"auditor","service":true,"password":"a-password-12345"}' bad_request "users: a service account with a password"
bad_post /v1/users "$ADMIN" '{"name":"svc1","role":"custodian","custodian_index":9,"service":true}' bad_request "users: a service custodian"
bad_post /v1/users "$ADMIN" '{"name":"svc1","role":"auditor","service":"yes"}' bad_request "users: service not a boolean"
jpost "$U/v1/users" "$ADMIN" '{"name":"siem","role":"auditor","service":true}'
expect_status 201 "create a service account"
[ "$(json_get service)" = true ] && [ -z "$(json_get one_time_password)" ] || fail "service account answer: $(cat "$BODYF")"
jpost "$U/v1/users/siem/role" "$ADMIN" '{"role":"custodian","custodian_index":9}'
expect_status 400 "a service account made custodian"
jcall GET "$U/v1/users" "$ADMIN"
python3 -c 'import json,sys; u={x["name"]: x for x in json.load(open(sys.argv[1]))["users"]}
assert u["siem"]["service"] is True and u["hd1"]["service"] is False, u' "$BODYF" || fail "user list: service"
jpost "$U/v1/users/siem/password" "$ADMIN" '{}'
expect_status 404 "a password reset for a service account"
jpost "$U/v1/tokens" "$ADMIN" '{"name":"own","expires_in":3600}'
expect_status 201 "an admin's token for themself"
jpost "$U/v1/tokens" "$ADMIN" '{"name":"siem export","expires_in":3600,"user":"siem"}'
expect_status 201 "create API token"
API=$(json_get token); API_ID=$(json_get id)
case $API in kea_*) ;; *) fail "API token format" ;; esac
[ "$(app_psql "$PRIV_APP_DSN" -c "SELECT count(*) FROM auth_tokens WHERE token_hash = '\\x$(token_hash_hex "$API")'")" = 1 ] ||
  fail "the token is not stored as its SHA-256"
[ "$(app_psql "$PRIV_APP_DSN" -c "SELECT count(*) FROM auth_tokens WHERE encode(token_hash, 'escape') LIKE '%$API%'")" = 0 ] ||
  fail "the token is stored in clear"
jcall GET "$U/v1/users" "$API"
expect_status 403 "auditor token on an admin route"; expect_error forbidden "auditor on users"
ok "tokens: 403 for every account of a person but one's own; 201 for a service account (no password, never a custodian, shown in the user list)"
jcall GET "$U/v1/tokens" "$ADMIN"
expect_status 200 "list tokens"
grep -q '"siem export"' "$BODYF" || fail "token list lacks the API token"
grep -q "$API" "$BODYF" && fail "token list shows a token"
jcall DELETE "$U/v1/tokens/$API_ID" "$ADMIN"
expect_status 200 "revoke"
[ "$(json_get already_revoked)" = false ] || fail "revoke answer"
jcall DELETE "$U/v1/tokens/$API_ID" "$ADMIN"
expect_status 200 "revoke again"; [ "$(json_get already_revoked)" = true ] || fail "second revoke"
jcall DELETE "$U/v1/tokens/99999999" "$ADMIN"
expect_status 404 "revoke unknown"
jcall GET "$U/v1/tokens" "$API"
expect_status 401 "revoked token"; expect_error unauthorized "revoked token"
expect_header '^WWW-Authenticate: Bearer' "revoked token"
EXP=$(mint_token "$PRIV_APP_DSN" root expired)
jcall GET "$U/v1/users" "$EXP"
expect_status 401 "expired token"; expect_error unauthorized "expired token"
grep -q 'expired' "$BODYF" || fail "an expired token is not called expired"
jcall GET "$U/v1/users" "kes_$(printf 'A%.0s' $(seq 43))"
expect_status 401 "unknown token"
jcall GET "$U/v1/users" "" -H 'Authorization: Basic cm9vdDpyb290'
expect_status 401 "Basic auth"
jpost "$U/v1/login" "" "$(login_body hd1 "$PW_HD")"
expect_status 200 "helpdesk login"
HD=$(json_get token)
jpost "$U/v1/users/hd1/disable" "$ADMIN" ''
expect_status 200 "disable helpdesk"
jpost "$U/v1/logout" "$HD" ''
expect_status 401 "a disabled user's token"
jpost "$U/v1/login" "" "$(login_body hd1 "$PW_HD")"
expect_status 401 "a disabled user's login"; expect_error invalid_credentials "disabled login"
jpost "$U/v1/users/hd1/enable" "$ADMIN" ''
expect_status 200 "enable helpdesk"
# Disabling ended the session for good: enabling does not bring it back.
jpost "$U/v1/logout" "$HD" ''
expect_status 401 "a session of before the disable, after the enable"

jpost "$U/v1/login" "" "$(login_body hd1 "$PW_HD")"
expect_status 200 "helpdesk login after enable"
HD=$(json_get token)
jpost "$U/v1/logout" "$HD" ''
expect_status 200 "logout"; [ "$(json_get revoked)" = true ] || fail "logout answer"
jpost "$U/v1/logout" "$HD" ''
expect_status 401 "token after logout"
ok "tokens: hashed, shown once, revoked/expired/unknown/disabled -> 401, wrong role -> 403, logout"

# ---- rate limits ---------------------------------------------------------------
from() { jpost "$U/v1/login" "" "$(login_body "$2" "$3")" --interface "$1"; }
jpost "$U/v1/users" "$ADMIN" "{\"name\":\"hd3\",\"role\":\"helpdesk\",\"password\":\"$PW_HD\"}"
expect_status 201 "create hd3"
for i in 1 2 3; do
  from 127.0.0.2 hd3 "wrong-password-$i"
  expect_status 401 "failure $i of hd3"
done
from 127.0.0.2 hd3 "$PW_HD"
expect_status 429 "hd3 locked (right password, same address)"
expect_error too_many_attempts "hd3 locked"
expect_header '^Retry-After: [0-9]+' "429"
from 127.0.0.3 hd3 "$PW_HD"
expect_status 200 "hd3 from another address (the wait is per account and source)"
from 127.0.0.3 aud1x "whatever-password"
expect_status 401 "another account from that address is not locked"
for i in 1 2 3 4 5; do
  from 127.0.0.4 "ghost$i" "wrong-password-$i"
  expect_status 401 "address failure $i"
done
jpost "$U/v1/users" "$ADMIN" "{\"name\":\"hd2\",\"role\":\"helpdesk\",\"password\":\"$PW_HD\"}"
expect_status 201 "create hd2"
from 127.0.0.4 hd2 "$PW_HD"
expect_status 429 "address 127.0.0.4 locked after 5 failures"
from 127.0.0.5 hd2 "$PW_HD"
expect_status 200 "hd2 from another address"
ok "rate limits: per account and address, and per address (any account), 429 + Retry-After"

# ---- replacing a client key needs the password ----------------------------------
edpub() { python3 -c 'import base64
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
k = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
print(base64.urlsafe_b64encode(k).decode().rstrip("="))'; }
ckput() {  # TOKEN PUBKEY [PASSWORD]
  python3 -c 'import json,sys; d={"public_key": sys.argv[1]}
if len(sys.argv) > 2: d["password"] = sys.argv[2]
print(json.dumps(d))' "${@:2}" >"$TW/ck.json"
  # from an address of its own: the per-address login limit counts these too
  http PUT "$U/v1/client-key" -H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
    --data-binary @"$TW/ck.json" --interface 127.0.0.6
}
ckfpr() { app_psql "$PRIV_APP_DSN" -c "SELECT c.fingerprint FROM client_keys c JOIN users u ON u.id = c.user_id WHERE u.name = '$1'"; }
jpost "$U/v1/users" "$ADMIN" "{\"name\":\"hd4\",\"role\":\"helpdesk\",\"password\":\"$PW_HD\"}"
expect_status 201 "create hd4"
jpost "$U/v1/login" "" "$(login_body hd4 "$PW_HD")"
expect_status 200 "hd4 login"
HD4=$(json_get token)
K1=$(edpub); K2=$(edpub)
ckput "$HD4" "$K1"
expect_status 200 "first client key"; F1=$(json_get fingerprint)
[ "$(json_get replaced)" = false ] || fail "a first key is no replacement"
ckput "$HD4" "$K1"
expect_status 200 "the same key again"; [ "$(json_get replaced)" = false ] || fail "same key"
ckput "$HD4" "$K2"
expect_status 403 "a key change with a token only"; expect_error reauthentication_required "no password"
[ "$(ckfpr hd4)" = "$F1" ] || fail "the key changed without the password"
ckput "$HD4" "$K2" "wrong-password-ck"
expect_status 403 "a key change with a wrong password"; expect_error reauthentication_required "wrong password"
[ "$(ckfpr hd4)" = "$F1" ] || fail "the key changed with a wrong password"
[ "$(app_psql "$PRIV_APP_DSN" -c "SELECT failures FROM login_failures WHERE kind = 'user' AND key = 'hd4'")" = 1 ] ||
  fail "a wrong re-authentication is not counted as a failed login"
ckput "$HD4" "$K2" "$PW_HD"
expect_status 200 "a key change with the password"
F2=$(json_get fingerprint)
[ "$(json_get replaced)" = true ] && [ "$(json_get old_fingerprint)" = "$F1" ] && [ "$(ckfpr hd4)" = "$F2" ] ||
  fail "the replacement: $(cat "$BODYF")"
hist=$(app_psql "$PRIV_APP_DSN" -c "SELECT string_agg(h.fingerprint || ':' || (h.replaced IS NOT NULL)::text, ' ' ORDER BY h.id) FROM client_key_history h JOIN users u ON u.id = h.user_id WHERE u.name = 'hd4'")
[ "$hist" = "$F1:true $F2:false" ] || fail "the key history: $hist"
# The login limits apply: three more wrong passwords make this source wait (3 here; the right one before cleared its count).
K3=$(edpub)
for i in 1 2 3; do ckput "$HD4" "$K3" "wrong-password-ck$i"; expect_status 403 "wrong password $i"; done
ckput "$HD4" "$K3" "$PW_HD"
expect_status 429 "a key change of a locked account"; expect_header '^Retry-After: [0-9]+' "429 on client-key"
[ "$(ckfpr hd4)" = "$F2" ] || fail "a locked account changed its key"
# A service account has no password: its key is registered once.
SVC=$(mint_token "$PRIV_APP_DSN" siem)
ckput "$SVC" "$K1"
expect_status 200 "a service account's first key"
ckput "$SVC" "$K3" "any-password-at-all"
expect_status 403 "a service account replacing its key"; expect_error forbidden "service key change"
for _ in $(seq 50); do
  app_psql "$PRIV_APP_DSN" -c "SELECT convert_from(leaf, 'UTF8') FROM audit_log" >"$TW/ck.audit"
  grep -q '"client_key.replace".*"success"' "$TW/ck.audit" && break
  sleep 0.1
done
python3 - "$TW/ck.audit" "$F1" "$F2" <<'PY' || fail "client_key audit events"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
rep = [e for e in ev if e["action"] == "client_key.replace"]
ok = [e for e in rep if e["outcome"] == "success"]
assert len(ok) == 1 and ok[0]["details"]["old_fingerprint"] == sys.argv[2] and ok[0]["details"]["fingerprint"] == sys.argv[3], rep
assert any(e["outcome"] == "failure" and e["details"]["reason"] == "bad_password" for e in rep), rep
assert any(e["action"] == "client_key.register" and e["object"] == "user:hd4" for e in ev)
PY
ok "client key: a change needs the password (403 without or wrong, counted and locked like logins), is audited with both fingerprints and kept in the history; service accounts cannot change theirs"

# ---- the audit trail -------------------------------------------------------------
# Events are sequenced into the log asynchronously (srv_audit_run.c): wait
# until every event this test expects is there, not just the last one, since
# a failed login's event may be sequenced after a later request's.
audit_complete() {
  app_psql "$PRIV_APP_DSN" -c "SELECT convert_from(leaf, 'UTF8') FROM audit_log ORDER BY seq" >"$TW/audit.txt"
  for a in user.bootstrap auth.login user.create user.role user.disable user.enable token.create \
           token.revoke auth.logout auth.denied; do
    grep -q "\"action\":\"$a\"" "$TW/audit.txt" || return 1
  done
  grep '"action":"auth.login"' "$TW/audit.txt" | grep '"outcome":"failure"' >/dev/null
}
for i in $(seq 1 600); do audit_complete && break; sleep 0.1; done
for a in user.bootstrap auth.login user.create user.role user.disable user.enable token.create \
         token.revoke auth.logout auth.denied; do
  grep -q "\"action\":\"$a\"" "$TW/audit.txt" || fail "no $a event in the audit log"
done
grep '"action":"auth.login"' "$TW/audit.txt" | grep '"outcome":"failure"' >/dev/null || fail "failed logins not audited"
grep -q '"locked_for"' "$TW/audit.txt" || fail "the lockout is not in the audit log"
grep '"user.bootstrap"' "$TW/audit.txt" | grep '"actor":"system"' >/dev/null || fail "bootstrap actor"
grep '"user.create"' "$TW/audit.txt" | grep '"actor":"user:root"' >/dev/null || fail "user.create actor"
for secret in "$PW_ADMIN" "$PW_HD" "$OTP" "$API" "$ADMIN" wrong-password-1; do
  grep -qF -- "$secret" "$TW/audit.txt" && fail "a password or token is in the audit log"
  grep -qF -- "$secret" "$TW/acct.log" && fail "a password or token is in the server log"
done
ok "every change, login, failure and denial is audited; no password or token anywhere"

# ---- a password reset racing a login ------------------------------------------------
# The login reads the hash, runs scrypt, then writes; a reset that commits in
# between must make it fail, not issue a session the reset meant to end.  The
# test holds the user's row lock so that the login is caught exactly there.
jpost "$U/v1/users" "$ADMIN" '{"name":"race-'$$'","role":"auditor","password":"race-password-0001"}'
expect_status 201 "create the race user"
coproc HOLD { psql -X -q -v ON_ERROR_STOP=1 "$PRIV_OWN_DSN" >"$TW/hold.out" 2>&1; }
hold_pid=$HOLD_PID hold_in=${HOLD[1]}
echo "BEGIN; SELECT 1 FROM users WHERE name = 'race-$$' FOR UPDATE;" >&"$hold_in"
sleep 0.5
curl -sS -o "$TW/race.body" -w '%{http_code}' -H 'Content-Type: application/json' \
  --data-binary "$(login_body race-$$ race-password-0001)" "$U/v1/login" >"$TW/race.code" 2>&1 &
race=$!
sleep 2  # step 1 and scrypt are done; step 3 waits for the row lock
kill -0 "$race" 2>/dev/null || fail "the login did not wait for the row lock: $(cat "$TW/race.code")"
echo "UPDATE users SET pw_hash = sha256('reset'::bytea) WHERE name = 'race-$$'; COMMIT;" >&"$hold_in"
echo '\q' >&"$hold_in"
wait "$race" || true
wait "$hold_pid" 2>/dev/null || true
[ "$(cat "$TW/race.code")" = 401 ] || fail "a login across a reset: $(cat "$TW/race.code") $(cat "$TW/race.body")"
[ "$(app_psql "$PRIV_APP_DSN" -c "SELECT count(*) FROM auth_tokens t JOIN users u ON u.id = t.user_id
      WHERE u.name = 'race-$$'")" = 0 ] || fail "a session was issued across the reset"
ok "a login whose password is reset between its read and its write fails"
stop_daemon acct
