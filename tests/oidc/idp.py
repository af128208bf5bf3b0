#!/usr/bin/env python3
"""idp.py - the test OpenID Connect provider (Debian's glewlwyd) for keyescrow.

Used by tests/oidc/idp.sh (provisioning through glewlwyd's admin API, once
glewlwyd answers) and by the tests themselves (logins driven without a
browser: glewlwyd's login API, then the authorize, token and device
endpoints).  Only the Python standard library: the tests run on a bare
Debian 12 with python3.

  idp.py provision WORKDIR   admin API: user schema, OTP scheme, scopes,
                             the oidc plugin, clients, users; writes idp.env
  idp.py redirect WORKDIR URI...   replace the keyescrow client's redirect URIs
  idp.py totp SECRET_B32     the current TOTP code (RFC 6238, SHA-1, 6 digits)

Everything the tests need to know about the instance is in WORKDIR/idp.env
(shell syntax, also read by load_env() here).
"""
import base64
import hashlib
import hmac
import http.client
import json
import os
import secrets
import ssl
import struct
import sys
import time
import urllib.parse

ADMIN_USER, ADMIN_PASSWORD = "admin", "password"   # made by glewlwyd's schema
PLUGIN = "oidc"          # the plugin instance: its URLs are /api/oidc/...
OTP_SCHEME = "otp"       # the TOTP scheme instance (module "otp")
GROUPS_SCOPE = "groups"  # password; asks for the groups claim (as with Okta)
MFA_SCOPE = "mfa"        # password + TOTP; only users who have it are asked
SCOPES = "openid %s %s" % (GROUPS_SCOPE, MFA_SCOPE)   # what escrowd asks for
CLIENT_ID = "keyescrow"  # confidential: code + PKCE, device, refresh
CLI_CLIENT_ID = "keyescrow-cli"  # public: code + PKCE, device
# Test users.  groups is a multi-valued user property, sent as the "groups"
# claim.  Who has the mfa scope must pass TOTP whenever a client asks for it.
USERS = {
    "alice": {"groups": ["helpdesk"], "mfa": False},
    "carol": {"groups": ["custodian"], "mfa": True},
    "adam": {"groups": ["admin"], "mfa": True},
    # the console test's custodian (glewlwyd takes one TOTP login per user
    # and time step: a user of its own keeps that test independent of carol's)
    "cleo": {"groups": ["custodian4"], "mfa": True},
}
PASSWORD = "correct horse battery"   # every test user's password


def totp(secret_b32, at=None, step=30, digits=6):
    """RFC 6238 TOTP code of a base32 secret (what glewlwyd's otp checks)."""
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    counter = int((time.time() if at is None else at) // step)
    mac = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    off = mac[-1] & 0x0F
    code = (struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 10**digits
    return str(code).zfill(digits)


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt_claims(token):
    """The payload of a compact JWS, unverified (the tests check the
    signature separately, with the JWKS)."""
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def load_env(workdir):
    env = {}
    with open(os.path.join(workdir, "idp.env")) as f:
        for line in f:
            k, _, v = line.strip().partition("=")
            if k:
                env[k] = v.strip("'")
    return env


class Http:
    """One user agent: HTTPS to the IdP with its CA, its own cookie jar,
    redirects not followed (the tests read Location themselves)."""

    def __init__(self, base, cafile):
        self.base = base.rstrip("/")
        self.ctx = ssl.create_default_context(cafile=cafile)
        self.cookies = {}

    def request(self, method, url, body=None, form=None, headers=None, basic=None):
        if not url.startswith("http"):
            url = self.base + url
        u = urllib.parse.urlsplit(url)
        hdrs = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdrs["Content-Type"] = "application/json"
        elif form is not None:
            data = urllib.parse.urlencode(form).encode()
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        if basic:
            hdrs["Authorization"] = "Basic " + base64.b64encode(
                ("%s:%s" % basic).encode()).decode()
        if self.cookies:
            hdrs["Cookie"] = "; ".join("%s=%s" % kv for kv in self.cookies.items())
        conn = http.client.HTTPSConnection(u.hostname, u.port, context=self.ctx, timeout=20)
        path = u.path + ("?" + u.query if u.query else "")
        conn.request(method, path, body=data, headers=hdrs)
        resp = conn.getresponse()
        raw = resp.read()
        for k, v in resp.getheaders():
            if k.lower() == "set-cookie":
                name, _, val = v.split(";", 1)[0].partition("=")
                if val:
                    self.cookies[name] = val
                else:
                    self.cookies.pop(name, None)
        conn.close()
        try:
            parsed = json.loads(raw) if raw else None
        except ValueError:
            parsed = raw.decode(errors="replace")
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, parsed

    def ok(self, method, url, what, expect=200, **kw):
        st, hdrs, body = self.request(method, url, **kw)
        if st != expect:
            raise SystemExit("idp: %s: %s %s -> HTTP %d %s" % (what, method, url, st, body))
        return hdrs, body

    def login(self, username, password, totp_secret=None):
        """glewlwyd's login API: password, then (if given) the TOTP scheme.
        The session cookie is what the authorize endpoint looks at."""
        self.ok("POST", "/api/auth/", "password login of " + username,
                body={"username": username, "password": password})
        if totp_secret:
            self.ok("POST", "/api/auth/", "TOTP login of " + username,
                    body={"username": username, "scheme_type": "otp",
                          "scheme_name": OTP_SCHEME, "value": {"value": totp(totp_secret)}})


def pkce():
    verifier = b64url(secrets.token_bytes(32))
    return verifier, b64url(hashlib.sha256(verifier.encode()).digest())


class LoginRequired(Exception):
    """The authorize endpoint sent back to the login page: the session lacks
    a factor that a requested scope needs (mfa without TOTP)."""


def session(env, username, totp_secret=None):
    """A user agent logged in to the IdP.  Keep it for more logins of the
    same person: glewlwyd takes one TOTP code per user per time step."""
    ua = Http(env["IDP_URL"], env["IDP_CA"])
    ua.login(username, env["IDP_PASSWORD"], totp_secret)
    return ua


def authorize(env, ua, scope=SCOPES, client_id=CLIENT_ID, redirect_uri=None,
              exchange=True):
    """The authorization code flow with PKCE (S256), state and nonce, as a
    browser goes through it: the authorize URL first sends to glewlwyd's
    login page; once logged in (ua, see session()), the login page's way
    back is the same URL plus g_continue, which answers with the code.
    Returns the token endpoint's JSON (None unless exchange) and what was
    sent and received (state, nonce, verifier, callback: the code)."""
    redirect_uri = redirect_uri or env["IDP_REDIRECT_URIS"].split()[0]
    verifier, challenge = pkce()
    sent = {"state": secrets.token_urlsafe(12), "nonce": secrets.token_urlsafe(12),
            "verifier": verifier}
    url = env["IDP_ISSUER"] + "/auth?" + urllib.parse.urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
        "scope": scope, "state": sent["state"], "nonce": sent["nonce"],
        "code_challenge": challenge, "code_challenge_method": "S256"})
    hdrs, _ = Http(env["IDP_URL"], env["IDP_CA"]).ok("GET", url, "authorize (no session)",
                                                      expect=302)
    sent["login_page"] = hdrs["location"]
    hdrs, _ = ua.ok("GET", url + "&g_continue", "authorize (logged in)", expect=302)
    back = urllib.parse.urlsplit(hdrs["location"])
    if back.scheme + "://" + back.netloc + back.path != redirect_uri:
        raise LoginRequired(hdrs["location"])
    q = dict(urllib.parse.parse_qsl(back.query))
    if q.get("state") != sent["state"] or "code" not in q:
        raise SystemExit("idp: authorize answer %s" % q)
    sent.update(callback=q, client_id=client_id, redirect_uri=redirect_uri)
    if not exchange:
        return None, sent
    st, body = token(env, sent)
    if st != 200:
        raise SystemExit("idp: token (code): HTTP %d %s" % (st, body))
    return body, sent


def token(env, sent, verifier=None):
    """The code for tokens at the token endpoint: (HTTP status, JSON)."""
    form = {"grant_type": "authorization_code", "code": sent["callback"]["code"],
            "redirect_uri": sent["redirect_uri"], "client_id": sent["client_id"],
            "code_verifier": verifier or sent["verifier"]}
    st, _, body = Http(env["IDP_URL"], env["IDP_CA"]).request(
        "POST", env["IDP_ISSUER"] + "/token", form=form,
        basic=client_auth(env, sent["client_id"]))
    return st, body


def client_auth(env, client_id):
    """HTTP Basic for the confidential client, none for the public one."""
    return (client_id, env["IDP_CLIENT_SECRET"]) if client_id == CLIENT_ID else None


def device_start(env, client_id=CLIENT_ID, scope=SCOPES):
    """RFC 8628 step 1, as escrowd would do it for escrowctl login --sso."""
    ua = Http(env["IDP_URL"], env["IDP_CA"])
    form = {"client_id": client_id, "scope": scope}
    _, body = ua.ok("POST", env["IDP_ISSUER"] + "/device_authorization", "device_authorization",
                    form=form, basic=client_auth(env, client_id))
    return body


def device_verify(env, ua, user_code):
    """The user's side of the device flow, browser-less: logged in (ua, see
    session()), the verification URI with the user code and g_continue (what
    glewlwyd's login page does once the user typed the code).  Returns the
    Location answered (glewlwyd's page, with prompt=deviceComplete)."""
    url = env["IDP_ISSUER"] + "/device?" + urllib.parse.urlencode({"code": user_code})
    hdrs, _ = ua.ok("GET", url + "&g_continue", "device verification", expect=302)
    return hdrs["location"]


def device_poll(env, device_code, client_id=CLIENT_ID):
    """One token request of the device flow: (HTTP status, JSON)."""
    ua = Http(env["IDP_URL"], env["IDP_CA"])
    st, _, body = ua.request("POST", env["IDP_ISSUER"] + "/token", basic=client_auth(env, client_id), form={
        "grant_type": "urn:ietf:params:oauth:grant-type:device_code",
        "device_code": device_code, "client_id": client_id})
    return st, body


def pem_files(workdir):
    with open(os.path.join(workdir, "sign-key.pem")) as f:
        key = f.read()
    with open(os.path.join(workdir, "sign-pub.pem")) as f:
        pub = f.read()
    return key, pub


def plugin_params(issuer, key, pub):
    return {
        "iss": issuer,
        "jwt-type": "rsa", "jwt-key-size": "256", "key": key, "cert": pub,
        "jwks-show": True,
        "access-token-duration": 3600, "refresh-token-duration": 86400,
        "code-duration": 600, "refresh-token-rolling": False,
        "allow-non-oidc": False,
        "auth-type-code-enabled": True, "auth-type-code-revoke-replayed": True,
        "auth-type-token-enabled": False, "auth-type-id-token-enabled": False,
        "auth-type-none-enabled": False, "auth-type-password-enabled": False,
        "auth-type-client-enabled": False, "auth-type-refresh-enabled": True,
        "auth-type-device-enabled": True,
        "device-authorization-expiration": 600,
        # The shortest glewlwyd allows: a poll sooner than this is slow_down.
        "device-authorization-interval": 1,
        "pkce-allowed": True, "pkce-method-plain-allowed": False,
        "subject-type": "public",
        "name-claim": "mandatory", "email-claim": "on-demand", "scope-claim": "no",
        "address-claim": {"type": "no"},
        "claims": [{"name": "groups", "user-property": "groups", "type": "string",
                    "mandatory": False, "on-demand": False, "scope": [GROUPS_SCOPE]}],
        "introspection-revocation-allowed": False,
        "register-client-allowed": False,
        "session-management-allowed": False,
        "request-parameter-allow": False,
    }


def rotate_key(workdir):
    """A new RS256 signing key for the oidc plugin (a key rotation at the
    IdP: its JWKS then has another kid).  Returns (old kid, new kid)."""
    import subprocess
    env = load_env(workdir)
    ua = Http(env["IDP_URL"], env["IDP_CA"])
    _, conf = ua.ok("GET", env["IDP_ISSUER"] + "/.well-known/openid-configuration", "discovery")
    old = ua.ok("GET", conf["jwks_uri"], "JWKS")[1]["keys"][0]["kid"]
    key = os.path.join(workdir, "sign-key.pem")
    pub = os.path.join(workdir, "sign-pub.pem")
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                    "-out", key], check=True, capture_output=True)
    subprocess.run(["openssl", "pkey", "-in", key, "-pubout", "-out", pub], check=True,
                   capture_output=True)
    admin = Http(env["IDP_URL"], env["IDP_CA"])
    admin.login(ADMIN_USER, ADMIN_PASSWORD)
    _, mod = admin.ok("GET", "/api/mod/plugin/" + PLUGIN, "oidc plugin")
    k, p = pem_files(workdir)
    mod["parameters"].update(plugin_params(env["IDP_ISSUER"], k, p))
    admin.ok("PUT", "/api/mod/plugin/" + PLUGIN, "oidc plugin: new key", body={
        "module": mod["module"], "name": mod["name"], "display_name": mod["display_name"],
        "parameters": mod["parameters"]})
    # The running plugin keeps its old key until reset.
    admin.ok("PUT", "/api/mod/plugin/%s/reset" % PLUGIN, "oidc plugin: reset")
    _, jwks = ua.ok("GET", conf["jwks_uri"], "JWKS")
    return old, jwks["keys"][0]["kid"]


def client_body(client_id, redirect_uris, secret=None):
    body = {
        "client_id": client_id, "name": client_id, "enabled": True,
        "redirect_uri": redirect_uris,
        "authorization_type": ["code", "device_authorization"],
        "scope": [],
    }
    if secret:
        body.update(confidential=True, client_secret=secret,
                    authorization_type=body["authorization_type"] + ["refresh_token"],
                    token_endpoint_auth_method=["client_secret_basic", "client_secret_post"])
    else:
        body.update(confidential=False, token_endpoint_auth_method=["none"])
    return body


def add_groups_property(admin):
    """The database user backend keeps only the properties of its
    data-format: add a multi-valued "groups" (admin-written only)."""
    _, mod = admin.ok("GET", "/api/mod/user/database", "user backend")
    params = mod["parameters"]
    params["data-format"]["groups"] = {"multiple": True, "read": True, "write": True,
                                       "profile-read": True, "profile-write": False}
    admin.ok("PUT", "/api/mod/user/database", "user backend: groups",
             body={"module": mod["module"], "name": mod["name"],
                   "display_name": mod["display_name"], "order_rank": mod.get("order_rank", 0),
                   "parameters": params, "readonly": False})
    # The running instance keeps its old data-format until restarted.
    admin.ok("PUT", "/api/mod/user/database/reset", "user backend: reset")


def provision(workdir):
    env = load_env(workdir)
    base, ca = env["IDP_URL"], env["IDP_CA"]
    issuer = base + "/api/" + PLUGIN
    admin = Http(base, ca)
    admin.login(ADMIN_USER, ADMIN_PASSWORD)
    add_groups_property(admin)
    admin.ok("POST", "/api/mod/scheme/", "otp scheme", body={
        "module": "otp", "name": OTP_SCHEME, "display_name": "TOTP",
        "expiration": 600, "max_use": 0, "parameters": {
            "issuer": issuer, "secret-minimum-size": 16, "otp-length": 6,
            "hotp-allow": False, "hotp-window": 0,
            "totp-allow": True, "totp-window": 30, "totp-start-offset": 0}})
    # openid comes from the schema without password_required: a session of
    # any kind would do, and amr would stay empty.  With it, "password".
    admin.ok("PUT", "/api/scope/openid", "openid scope", body={
        "display_name": "Open ID", "description": "Open ID Connect scope",
        "password_required": True, "password_max_age": 0, "scheme": {}})
    # Everyone has groups: glewlwyd's login page shows its grant page, even
    # to a user who granted all, unless a scope other than openid is granted.
    admin.ok("POST", "/api/scope/", "groups scope", body={
        "name": GROUPS_SCOPE, "display_name": "Groups", "description": "groups claim",
        "password_required": True, "password_max_age": 0, "scheme": {}})
    admin.ok("POST", "/api/scope/", "mfa scope", body={
        "name": MFA_SCOPE, "display_name": "Second factor",
        "description": "password and TOTP", "password_required": True,
        "password_max_age": 0,
        "scheme": {"otp": [{"scheme_type": "otp", "scheme_name": OTP_SCHEME}]},
        "scheme_required": {"otp": 1}})
    key, pub = pem_files(workdir)
    admin.ok("POST", "/api/mod/plugin/", "oidc plugin", body={
        "module": "oidc", "name": PLUGIN, "display_name": "OpenID Connect",
        "parameters": plugin_params(issuer, key, pub)})
    redirects = env.get("IDP_REDIRECT_URIS", "").split()
    secret = secrets.token_urlsafe(24)
    admin.ok("POST", "/api/client/", "client " + CLIENT_ID,
             body=client_body(CLIENT_ID, redirects, secret))
    admin.ok("POST", "/api/client/", "client " + CLI_CLIENT_ID,
             body=client_body(CLI_CLIENT_ID, redirects))
    out = ["IDP_ISSUER='%s'" % issuer, "IDP_CLIENT_ID='%s'" % CLIENT_ID,
           "IDP_CLIENT_SECRET='%s'" % secret, "IDP_CLI_CLIENT_ID='%s'" % CLI_CLIENT_ID,
           "IDP_PASSWORD='%s'" % PASSWORD]
    for name, u in USERS.items():
        scopes = ["openid", GROUPS_SCOPE] + ([MFA_SCOPE] if u["mfa"] else [])
        admin.ok("POST", "/api/user/", "user " + name, body={
            "username": name, "name": name.capitalize(), "email": name + "@example.test",
            "password": PASSWORD, "enabled": True, "scope": scopes, "groups": u["groups"]})
        # Consent given once here, so that neither test nor browser meets
        # glewlwyd's grant page.
        for cid in (CLIENT_ID, CLI_CLIENT_ID):
            admin.ok("PUT", "/api/delegate/%s/auth/grant/%s" % (name, cid),
                     "grant of %s to %s" % (name, cid), body={"scope": " ".join(scopes)})
        if u["mfa"]:
            sec = base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")
            admin.ok("POST", "/api/delegate/%s/profile/scheme/register/" % name,
                     "TOTP of " + name, body={
                         "username": name, "scheme_type": "otp", "scheme_name": OTP_SCHEME,
                         "value": {"type": "TOTP", "secret": sec, "time_step_size": 30}})
            out.append("IDP_TOTP_%s='%s'" % (name.upper(), sec))
    with open(os.path.join(workdir, "idp.env"), "a") as f:
        f.write("\n".join(out) + "\n")


def set_redirects(workdir, uris):
    env = load_env(workdir)
    admin = Http(env["IDP_URL"], env["IDP_CA"])
    admin.login(ADMIN_USER, ADMIN_PASSWORD)
    for cid, secret in ((CLIENT_ID, env["IDP_CLIENT_SECRET"]), (CLI_CLIENT_ID, None)):
        admin.ok("PUT", "/api/client/" + cid, "redirect URIs of " + cid,
                 body=client_body(cid, uris, secret))


def main(argv):
    if len(argv) >= 3 and argv[1] == "provision":
        provision(argv[2])
    elif len(argv) >= 3 and argv[1] == "redirect":
        set_redirects(argv[2], argv[3:])
    elif len(argv) == 3 and argv[1] == "totp":
        print(totp(argv[2]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
