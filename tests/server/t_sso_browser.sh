# t_sso_browser.sh - the console's single sign-on in headless Chromium
# (tests/web/sso_test.js), a step of t_sso.sh (sourced there), run before
# t_sso.py: cleo signs in through glewlwyd's own login page with password
# and TOTP and lands in the console as custodian #4; alice, whose groups
# are made `admin` here, signs in without a second factor and the login
# view says why she is refused (mfa_required).  Her groups are given back
# afterwards.  cleo is this test's own user: glewlwyd takes one TOTP login
# per user per 30 s, and t_sso.py logs carol and adam in with theirs.

# sso_groups USER GROUP...: the IdP's administrator sets USER's groups.
sso_groups() {
  python3 - "$IDPW" "$@" <<'PY' || fail "groups of $1 at the IdP"
import json, os, sys
sys.path.insert(0, os.path.join(os.environ["KE_SRC"], "tests", "oidc"))
import idp
env = idp.load_env(sys.argv[1])
admin = idp.Http(env["IDP_URL"], env["IDP_CA"])
admin.login(idp.ADMIN_USER, idp.ADMIN_PASSWORD)
_, u = admin.ok("GET", "/api/user/" + sys.argv[2], "user")
body = {k: u[k] for k in ("name", "email", "enabled", "scope") if k in u}
body["groups"] = sys.argv[3:]
admin.ok("PUT", "/api/user/" + sys.argv[2], "groups", body=body)
PY
}

sso_browser() {
  [ -x /usr/bin/chromium ] || fail "/usr/bin/chromium missing: run scripts/deps.sh"
  [ -f "${KE_WEB_BUILT:-}/index.html" ] || fail "no built console in KE_WEB_BUILT (${KE_WEB_BUILT:-unset})"
  . "$KE_SRC/tests/web/node_lib.sh"
  local node=${KE_BROWSER_NODE:?} bw=$TW/browser rc=0
  node_ci "$KE_SRC/tests/web" "$node"
  mkdir -p "$bw"
  sso_groups alice admin
  KE_NODE_DIR=$node KE_SSO_PASSWORD=$IDP_PASSWORD KE_SSO_TOTP=$IDP_TOTP_CLEO \
    timeout 120 node "$KE_SRC/tests/web/sso_test.js" "$URL" "$bw" >"$bw/test.log" 2>&1 || rc=$?
  rm -f "$(dirname "$node")"/sso-*.png
  cp "$bw"/*.png "$(dirname "$node")/" 2>/dev/null || true # screenshots, kept in the build tree
  [ "$rc" = 0 ] || fail "sso_test.js ($rc): $(cat "$bw/test.log")"
  sed -n 's/^/  /p' "$bw/test.log"
  sso_groups alice helpdesk
  [ "$(app_psql "$PRIV_APP_DSN" -c "SELECT role || ' ' || custodian_index || ' ' || oidc_issuer FROM users WHERE name = 'cleo'")" = \
    "custodian 4 $IDP_ISSUER" ] || fail "cleo's account after the browser login"
  [ -z "$(app_psql "$PRIV_APP_DSN" -c "SELECT name FROM users WHERE name = 'alice'")" ] || fail "a refused login made alice's account"
  ok "console: SSO button, cleo signed in through the IdP's page as custodian #4, alice told mfa_required"
}
