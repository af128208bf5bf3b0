#!/usr/bin/env python3
"""t_sso.py - the cases of t_sso.sh (single sign-on end to end), against the
real escrowd at $URL and the test IdP (glewlwyd) in $IDPW.  Logins go
through glewlwyd's own login API and authorize endpoint, as a browser
would (tests/oidc/idp.py); escrowd is the relying party under test."""
import base64
import hashlib
import http.client
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.environ["KE_SRC"], "tests", "oidc"))
import idp  # noqa: E402

URL = os.environ["URL"]
ROOT = os.environ["ROOT"]
ENV = idp.load_env(os.environ["IDPW"])
DSN = os.environ["PRIV_APP_DSN"]
TW = os.environ["TW"]
HOST = urllib.parse.urlsplit(URL)


def fail(msg):
    sys.exit("[sso] FAIL: " + msg)


def check(cond, msg):
    if not cond:
        fail(msg)


def ok(msg):
    print("[sso] ok: " + msg, flush=True)


def esc(method, path, body=None, token=None):
    """One request to escrowd: (status, headers, JSON or None)."""
    c = http.client.HTTPConnection(HOST.hostname, HOST.port, timeout=30)
    hdrs = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        hdrs["Content-Type"] = "application/json"
    if token:
        hdrs["Authorization"] = "Bearer " + token
    c.request(method, path, body=data, headers=hdrs)
    r = c.getresponse()
    raw = r.read()
    h = {k.lower(): v for k, v in r.getheaders()}
    c.close()
    try:
        j = json.loads(raw) if raw else None
    except ValueError:
        j = None
    return r.status, h, j


def sql(q):
    return subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", DSN, "-c", q],
                          check=True, capture_output=True, text=True).stdout.strip()


def audit_events(action, outcome, since):
    """Audit leaves of action/outcome after leaf `since`, as dicts (the
    sequencer runs in the background: wait for at least one)."""
    q = ("SELECT convert_from(leaf, 'UTF8') FROM audit_log WHERE seq > %d AND"
         " convert_from(leaf, 'UTF8')::jsonb->>'action' = '%s' AND"
         " convert_from(leaf, 'UTF8')::jsonb->>'outcome' = '%s' ORDER BY seq" % (since, action, outcome))
    for _ in range(200):
        out = sql(q)
        if out:
            return [json.loads(x) for x in out.splitlines()]
        time.sleep(0.05)
    return []


def audit_head():
    return int(sql("SELECT coalesce(max(seq), -1) FROM audit_log") or -1)


def start_login():
    st, _, s = esc("POST", "/v1/login/oidc/start")
    check(st == 200 and s["authorization_url"].startswith(ENV["IDP_ISSUER"] + "/"),
          "start: %s %s" % (st, s))
    q = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(s["authorization_url"]).query))
    check(q["code_challenge_method"] == "S256" and q["response_type"] == "code" and
          len(q["state"]) == 43 and len(q["nonce"]) == 43 and q["scope"] == "openid groups mfa",
          "the authorization request: %s" % q)
    return s


def through_idp(ua, s):
    """The browser's way: to the IdP (logged in as ua), back to escrowd's
    callback.  Returns (callback path, escrowd's Location)."""
    hdrs, _ = ua.ok("GET", s["authorization_url"] + "&g_continue", "authorize", expect=302)
    loc = hdrs["location"]
    if not loc.startswith(URL + "/v1/login/oidc/callback?"):
        raise idp.LoginRequired(loc)
    path = loc[len(URL):]
    st, h, _ = esc("GET", path)
    check(st == 303, "callback answered %d" % st)
    check(h.get("cache-control") == "no-store" and h.get("referrer-policy") == "no-referrer",
          "callback headers %s" % h)
    return path, h["location"]


def console_login(ua, expect_role):
    s = start_login()
    _, where = through_idp(ua, s)
    m = re.fullmatch(r"/#sso=([A-Za-z0-9_-]{43})", where)
    check(m, "callback went to %s" % where)
    st, _, a = esc("POST", "/v1/login/oidc/finish", {"handoff": m.group(1), "binding": s["binding"]})
    check(st == 200 and a["role"] == expect_role and a["method"] == "oidc" and a["token"],
          "finish: %d %s" % (st, a))
    return a, m.group(1), s


def set_groups(user, groups):
    """The IdP's administrator changes a user's groups."""
    admin = idp.Http(ENV["IDP_URL"], ENV["IDP_CA"])
    admin.login(idp.ADMIN_USER, idp.ADMIN_PASSWORD)
    _, u = admin.ok("GET", "/api/user/" + user, "user " + user)
    body = {k: u[k] for k in ("name", "email", "enabled", "scope") if k in u}
    body["groups"] = groups
    admin.ok("PUT", "/api/user/" + user, "groups of " + user, body=body)


def code_flow():
    alice = idp.session(ENV, "alice")
    a, handoff, s = console_login(alice, "helpdesk")
    check(a["user"] == "alice" and 0 < a["expires_in"] <= 3600, "alice's session %s" % a)
    st, _, _ = esc("GET", "/v1/devices?q=x", token=a["token"])
    check(st == 200, "alice's session is not a helpdesk session (%d)" % st)
    row = sql("SELECT role, person, oidc_issuer, email FROM users WHERE name = 'alice'").split("|")
    check(row[0] == "helpdesk" and re.fullmatch(r"oidc:[0-9a-f]{40}", row[1]) and
          row[2] == ENV["IDP_ISSUER"], "alice's account %s" % row)
    ok("code flow with PKCE: alice logged in through the IdP as helpdesk (a JIT account, "
       "person %s)" % row[1])
    # The handoff is good once, and only with the binding of the tab that
    # started the login.
    st, _, e = esc("POST", "/v1/login/oidc/finish", {"handoff": handoff, "binding": s["binding"]})
    check(st == 401 and e["error"]["code"] == "sso_refused", "a second finish: %d %s" % (st, e))
    s2 = start_login()
    _, where = through_idp(alice, s2)
    h2 = where.split("=", 1)[1]
    st, _, e = esc("POST", "/v1/login/oidc/finish", {"handoff": h2, "binding": s["binding"]})
    check(st == 401, "a handoff with another tab's binding: %d %s" % (st, e))
    # A wrong binding burns nothing (it is 256 random bits: guessing is
    # no attack, and the right tab still gets its session).
    st, _, e = esc("POST", "/v1/login/oidc/finish", {"handoff": h2, "binding": s2["binding"]})
    check(st == 200, "the right tab after a wrong binding: %d %s" % (st, e))
    ok("the handoff is single-use and bound to the tab's secret (login CSRF refused)")
    # A replayed callback (the same state and code) finds no login.
    s3 = start_login()
    path, where = through_idp(alice, s3)
    st, h, _ = esc("GET", path)
    check(st == 303 and h["location"] == "/#sso-error=login_expired", "replayed callback: %s" % h)
    # A state escrowd never made.
    st, h, _ = esc("GET", "/v1/login/oidc/callback?code=x&state=" + "A" * 43)
    check(st == 303 and h["location"] == "/#sso-error=login_expired", "unknown state: %s" % h)
    st, _, e = esc("GET", "/v1/login/oidc/callback?code=x&state=short")
    check(st == 400 and e["error"]["code"] == "bad_request", "malformed state: %d %s" % (st, e))
    ok("a replayed or unknown state is refused; a malformed one is a 400")
    return alice, a


def key_rotation(alice):
    """The IdP rotates its signing key: the next login's ID token names a
    kid escrowd has not seen; it re-reads the key set and accepts it."""
    # oidc_jwks_min_interval is 1 s here: the re-read is allowed once a
    # second has passed since escrowd read the key set (its log says when).
    read = None
    for line in open(os.path.join(TW, "main.log")):
        if '"identity provider ready"' in line:
            read = json.loads(line)["ts"]
    check(read, "escrowd never logged reading the IdP's metadata")
    t0 = time.mktime(time.strptime(read[:19], "%Y-%m-%dT%H:%M:%S")) - time.timezone
    while time.time() < t0 + 2:
        time.sleep(0.05)
    old, kid = idp.rotate_key(os.environ["IDPW"])
    check(old != kid, "the IdP kept its key id %s" % kid)
    console_login(alice, "helpdesk")
    ok("the IdP rotated its signing key (kid %s): escrowd re-read the key set and accepted "
       "the login" % kid)


def client_key(alice_login):
    """An SSO account has no password: a fresh SSO session re-authenticates
    the replacement of its client key (audited as such)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    raw = lambda: base64.urlsafe_b64encode(Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode().rstrip("=")
    tok = alice_login["token"]
    st, _, e = esc("PUT", "/v1/client-key", {"public_key": raw()}, token=tok)
    check(st == 200 and e["replaced"] is False, "first client key: %d %s" % (st, e))
    st, _, e = esc("PUT", "/v1/client-key", {"public_key": raw()}, token=tok)
    check(st == 200 and e["replaced"] is True, "replacement after a fresh SSO login: %d %s" % (st, e))
    ev = audit_events("client_key.replace", "success", 0)
    check(any(x["details"].get("reauthenticated") == "sso" for x in ev),
          "the replacement is not audited as re-authenticated by SSO: %s" % ev)
    ok("an SSO account replaces its client key with a fresh SSO login as re-authentication")


def custodian_mfa():
    carol = idp.session(ENV, "carol", ENV["IDP_TOTP_CAROL"])
    a, _, _ = console_login(carol, "custodian")
    check(a.get("custodian_index") == 3, "carol's index %s" % a)
    ok("carol logged in with password + TOTP as custodian #3")
    return carol, a


def mfa_refused(alice):
    since = audit_head()
    set_groups("alice", ["admin"])
    s = start_login()
    _, where = through_idp(alice, s)
    check(where == "/#sso-error=mfa_required", "admin without MFA went to %s" % where)
    ev = audit_events("auth.login", "failure", since)
    check(any(e["details"].get("reason") == "mfa_required" and e["details"].get("amr") == ["password"]
              for e in ev), "the MFA refusal is not audited with its amr: %s" % ev)
    check(sql("SELECT role FROM users WHERE name = 'alice'") == "helpdesk",
          "a refused login changed the role")
    ok("admin without a second factor: refused (mfa_required), audited with amr [password]")


def groups_change(alice, old):
    since = audit_head()
    set_groups("alice", ["auditor"])
    a, _, _ = console_login(alice, "auditor")
    check(a["user"] == "alice", "the same account: %s" % a)
    ev = audit_events("user.role", "success", since)
    check(any(e["details"].get("from") == "helpdesk" and e["details"].get("to") == "auditor"
              for e in ev), "the role change is not audited: %s" % ev)
    ok("groups changed at the IdP: helpdesk -> auditor at the next login (audited user.role)")
    set_groups("alice", ["helpdesk-emea"])
    a2, _, _ = console_login(alice, "helpdesk")
    check(sql("SELECT array_to_string(scope, ',') FROM users WHERE name = 'alice'") == "emea-*,lab-eu",
          "the scope of helpdesk-emea=helpdesk@emea-*|lab-eu was not stored")
    ok("a scoped binding from the IdP (helpdesk@emea-*|lab-eu) scopes the account")
    set_groups("alice", [])
    s = start_login()
    _, where = through_idp(alice, s)
    check(where == "/#sso-error=no_role", "no group went to %s" % where)
    for tok in (old["token"], a["token"]):
        st, _, _ = esc("GET", "/v1/devices?q=x", token=tok)
        check(st == 401, "a session of an account that lost its role still works (%d)" % st)
    ok("no group at the IdP: login refused (no_role) and the account's sessions ended")
    set_groups("alice", ["helpdesk"])


def disable(carol_login):
    st, _, _ = esc("GET", "/v1/retrievals?state=pending", token=carol_login["token"])
    check(st == 200, "carol's session (%d)" % st)
    st, _, e = esc("POST", "/v1/users/carol/disable", token=ROOT)
    check(st == 200, "disable carol: %d %s" % (st, e))
    st, _, _ = esc("GET", "/v1/retrievals?state=pending", token=carol_login["token"])
    check(st == 401, "a disabled SSO account's session still works (%d)" % st)
    carol = idp.session(ENV, "carol", None)  # the IdP still knows her
    s = start_login()
    try:
        through_idp(carol, s)
        fail("carol without TOTP got a code")
    except idp.LoginRequired:
        pass
    ok("disabling an SSO account here ends its session")
    # An admin who made API tokens: disabled, its tokens are revoked too.
    sql("INSERT INTO users (name, role, pw_salt, pw_hash, pw_n, pw_r, pw_p)"
        " VALUES ('root2', 'admin', decode(md5('a'), 'hex'), sha256('c'), 1024, 8, 1)")
    root2 = "kea_" + base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")
    sql("INSERT INTO auth_tokens (user_id, kind, token_hash, name, expires) SELECT id, 'api',"
        " '\\x%s', 'test', now() + interval '1 hour' FROM users WHERE name = 'root2'"
        % hashlib.sha256(root2.encode()).hexdigest())
    st, _, u = esc("POST", "/v1/users", {"name": "svc", "role": "auditor", "service": True},
                   token=root2)
    check(st == 201, "service account: %d %s" % (st, u))
    st, _, t = esc("POST", "/v1/tokens", {"user": "svc", "name": "automation", "expires_in": 3600},
                   token=root2)
    check(st == 201 and t.get("token"), "token for svc: %d %s" % (st, t))
    st, _, _ = esc("GET", "/v1/audit/entries?start=0&end=1", token=t["token"])
    check(st == 200, "svc's token (%d)" % st)
    st, _, e = esc("POST", "/v1/users/root2/disable", token=ROOT)
    check(st == 200, "disable root2: %d %s" % (st, e))
    st, _, _ = esc("GET", "/v1/audit/entries?start=0&end=1", token=t["token"])
    check(st == 401, "an API token made by a disabled admin still works (%d)" % st)
    ok("disabling an admin revokes the API tokens it made")


def local_login():
    def user(name, role, idx=None):
        st, _, u = esc("POST", "/v1/users", {"name": name, "role": role, "password": "a local pass phrase 9",
                                             **({"custodian_index": idx} if idx else {})}, token=ROOT)
        check(st == 201, "user add %s: %d %s" % (name, st, u))
    user("hdlocal", "helpdesk")
    user("breakglass", "admin")
    user("audlocal", "auditor")
    st, _, e = esc("POST", "/v1/login", {"user": "hdlocal", "password": "a local pass phrase 9"})
    check(st == 403 and e["error"]["code"] == "local_login_disabled", "hdlocal: %d %s" % (st, e))
    st, _, e = esc("POST", "/v1/login", {"user": "audlocal", "password": "a local pass phrase 9"})
    check(st == 403 and e["error"]["code"] == "local_login_disabled",
          "an account not on local_login_users: %d %s" % (st, e))
    st, _, a = esc("POST", "/v1/login", {"user": "breakglass", "password": "a local pass phrase 9"})
    check(st == 200 and a["role"] == "admin", "breakglass: %d %s" % (st, a))
    st, _, e = esc("POST", "/v1/login", {"user": "hdlocal", "password": "wrong one"})
    check(st == 401, "a wrong password is still only invalid_credentials (%d)" % st)
    ok("break-glass: only local_login_users log in with a password; others are told to use SSO")


def device_flow():
    env = dict(os.environ, HOME=TW, XDG_CONFIG_HOME=os.path.join(TW, "cfg"))
    env.pop("ESCROWCTL_TOKEN", None)
    p = subprocess.Popen([os.environ["KE_ESCROWCTL"], "login", "--server", URL, "--sso"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    code = None
    shown = ""
    for line in p.stderr:
        shown += line
        m = re.fullmatch(r"\s+(\S+)\s*", line)
        if m and "open" in shown:
            code = m.group(1)
            break
    check(code, "escrowctl login --sso showed no code: %s" % shown)
    check(ENV["IDP_ISSUER"] in shown, "the verification URI is not the IdP's: %s" % shown)
    adam = idp.session(ENV, "adam", ENV["IDP_TOTP_ADAM"])
    idp.device_verify(ENV, adam, code)
    out, err = p.communicate(timeout=60)
    check(p.returncode == 0, "escrowctl login --sso exit %d: %s %s" % (p.returncode, out, err))
    check("as adam (role admin)" in out, "login output: %s" % out)
    r = subprocess.run([os.environ["KE_ESCROWCTL"], "user", "list"], env=env, capture_output=True,
                       text=True)
    check(r.returncode == 0 and "adam" in r.stdout, "the stored SSO session: %s %s" % (r.stdout, r.stderr))
    ok("escrowctl login --sso: device flow, adam with TOTP at the IdP, session stored and used")
    # A made-up handle is refused.
    st, _, e = esc("POST", "/v1/login/oidc/device/poll", {"handle": "A" * 43})
    check(st == 401 and e["error"]["code"] == "sso_refused", "made-up handle: %d %s" % (st, e))


def floods():
    """Last (they use up this address's budget for the minute): a flood of
    unauthenticated SSO starts is refused with 429 before it costs a row,
    and device-flow starts (each an IdP call) sooner."""
    for what, path, most in (("device", "/v1/login/oidc/device", 10),
                             ("console", "/v1/login/oidc/start", 60)):
        for n in range(most + 2):
            st, h, e = esc("POST", path)
            if st == 429:
                break
            check(st == 200, "%s start %d: %d %s" % (what, n, st, e))
        check(st == 429 and e["error"]["code"] == "too_many_attempts" and
              1 <= int(h.get("retry-after", "0")) <= 60 and n <= most,
              "no 429 after %d %s starts (%d %s %s)" % (n, what, st, h, e))
    ok("a flood of SSO starts from one address gets 429 with Retry-After (device flow sooner)")


def main():
    alice, a = code_flow()
    key_rotation(alice)
    client_key(console_login(alice, "helpdesk")[0])
    carol, c = custodian_mfa()
    mfa_refused(alice)
    groups_change(alice, a)
    local_login()
    device_flow()
    disable(c)
    floods()


main()
