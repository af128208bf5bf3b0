#!/usr/bin/env bash
# t_sso.sh - single sign-on end to end (issue 19): the real escrowd on a
# private database, Debian's glewlwyd as the identity provider on loopback
# (tests/oidc/idp.sh), driven by t_sso.py through glewlwyd's own login API:
#
#   code flow     start -> the IdP -> callback -> finish: alice (helpdesk,
#                 password) and carol (custodian #3, password + TOTP) get
#                 sessions with their mapped roles; the handoff is good once
#                 and only with the tab's binding; a replayed state is
#                 refused
#   MFA           a user whose groups map to admin, without TOTP: refused,
#                 audited with the amr the token carried
#   groups        a change at the IdP changes the role at the next login
#                 (audited user.role); no group at all: refused, and the
#                 account's sessions end
#   disable       disabling an SSO account here ends its sessions; disabling
#                 an admin revokes the API tokens it made
#   local login   break-glass: a role SSO covers cannot log in with a
#                 password; a listed account can; an SSO account has none
#   device flow   `escrowctl login --sso`: the user code shown, the IdP step
#                 driven by the test, the session saved and usable
#   console       in Chromium through glewlwyd's login page: the SSO button,
#                 carol lands in the console as custodian #3, an mfa_required
#                 refusal shown on the login view (t_sso_browser.sh)
set -euo pipefail
. "$KE_SRC/tests/server/lib.sh"
. "$KE_SRC/tests/server/t_auth_lib.sh"
. "$KE_SRC/tests/oidc/idp.sh"
TEST_NAME=sso
load_fixture
make_private_db
IDPW=$TW/idp
trap 'rc=$?; idp_stop "$IDPW" 2>/dev/null || true; drop_private_db; (exit $rc); cleanup_test' EXIT

# escrowd's port is in its redirect URI, which the IdP must know first.
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
CB=http://127.0.0.1:$PORT/v1/login/oidc/callback
IDP_REDIRECT_URIS="$CB" idp_start "$IDPW" >"$TW/idp.out" 2>&1 || fail "idp: $(cat "$TW/idp.out")"
. "$IDPW/idp.env"
printf '%s\n' "$IDP_CLIENT_SECRET" >"$TW/client.secret"
chmod 600 "$TW/client.secret"
SSO_ENV=(ESCROWD_PORT="$PORT" ESCROWD_OIDC_ISSUER="$IDP_ISSUER" ESCROWD_OIDC_CLIENT_ID="$IDP_CLIENT_ID"
  ESCROWD_OIDC_CLIENT_SECRET_FILE="$TW/client.secret" ESCROWD_OIDC_REDIRECT_URI="$CB"
  ESCROWD_OIDC_CA_FILE="$IDP_CA" ESCROWD_OIDC_SCOPES="openid groups mfa"
  ESCROWD_OIDC_ROLE_MAP="admin=admin,custodian=custodian#3,custodian4=custodian#4,helpdesk=helpdesk,auditor=auditor,helpdesk-emea=helpdesk@emea-*|lab-eu"
  ESCROWD_OIDC_MFA_AMR=password+otp ESCROWD_OIDC_JWKS_MIN_INTERVAL=1 ESCROWD_LOCAL_LOGIN_DISABLED_ROLES=helpdesk,custodian
  ESCROWD_LOCAL_LOGIN_USERS=root,breakglass)
[ -n "${KE_WEB_BUILT:-}" ] && SSO_ENV+=(ESCROWD_WEB_DIR="$KE_WEB_BUILT")
start_private main "${SSO_ENV[@]}"
URL=http://127.0.0.1:$PORT
# The IdP's metadata is read by a thread at start: wait for it.
for _ in $(seq 1 200); do
  http GET "$URL/v1/login/methods"
  grep -q '"ready":true' "$BODYF" && break
  sleep 0.05
done
grep -q '"ready":true' "$BODYF" || fail "SSO never ready: $(cat "$BODYF")"
grep -q '"device":true' "$BODYF" || fail "no device flow: $(cat "$BODYF")"
ok "escrowd read the IdP's discovery document and key set ($IDP_ISSUER)"

# Local accounts: an admin to disable with, and the break-glass rules.
mint_user "$PRIV_APP_DSN" root admin
ROOT=$(mint_token "$PRIV_APP_DSN" root)
export URL ROOT IDPW PRIV_APP_DSN KE_ESCROWCTL TW
# The console in Chromium first (carol is disabled at the end of t_sso.py).
. "$KE_SRC/tests/server/t_sso_browser.sh"
sso_browser
python3 "$KE_SRC/tests/server/t_sso.py" || fail "t_sso.py"
! grep -q "$IDP_CLIENT_SECRET" "$TW/main.log" || fail "the client secret is in the server log"
idp_stop "$IDPW"
ok "single sign-on"
