#!/usr/bin/env python3
"""t_idp.py WORKDIR - the test IdP (tests/oidc/idp.sh start WORKDIR) answers
as the escrowd relying party will rely on: discovery, JWKS, the code flow
with PKCE for password-only and password+TOTP logins, the device flow.

The claims checked here are the ones escrowd's verification and MFA rule
read (docs/hacking.md, "The test IdP"): iss, aud, azp, nonce, exp/iat,
groups, amr.  glewlwyd 2.7 never sends acr.
"""
import base64
import json
import sys
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

import idp

W = sys.argv[1]
ENV = idp.load_env(W)
ISS = ENV["IDP_ISSUER"]
ANON = idp.Http(ENV["IDP_URL"], ENV["IDP_CA"])


def check(cond, what, detail=""):
    if not cond:
        sys.exit("[oidc.idp] FAIL: %s %s" % (what, detail))


def ok(what):
    print("[oidc.idp] ok: " + what)


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def discovery():
    _, conf = ANON.ok("GET", ISS + "/.well-known/openid-configuration", "discovery")
    check(conf["issuer"] == ISS, "issuer", conf["issuer"])
    for k in ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint",
              "device_authorization_endpoint"):
        check(conf.get(k, "").startswith(ISS + "/"), k, conf.get(k))
    check(conf["code_challenge_methods_supported"] == ["S256"], "PKCE S256 only",
          conf["code_challenge_methods_supported"])
    check("urn:ietf:params:oauth:grant-type:device_code" in conf["grant_types_supported"],
          "device grant", conf["grant_types_supported"])
    check("RS256" in conf["id_token_signing_alg_values_supported"], "RS256")
    check("groups" in conf["claims_supported"], "groups claim", conf["claims_supported"])
    _, jwks = ANON.ok("GET", conf["jwks_uri"], "JWKS")
    check(len(jwks["keys"]) == 1, "one signing key", jwks)
    k = jwks["keys"][0]
    check(k["kty"] == "RSA" and k["alg"] == "RS256" and k.get("kid"), "RS256 key with a kid", k)
    ok("discovery and JWKS (issuer %s, kid %s)" % (ISS, k["kid"]))
    return conf, k


def verify(token, jwk, client_id, nonce=None):
    """The id_token's signature with the JWKS key, and the claims the
    relying party checks.  Returns the claims."""
    h64, p64, s64 = token.split(".")
    header = json.loads(b64d(h64))
    check(header["alg"] == "RS256" and header.get("kid") == jwk["kid"], "JWS header", header)
    pub = rsa.RSAPublicNumbers(int.from_bytes(b64d(jwk["e"]), "big"),
                               int.from_bytes(b64d(jwk["n"]), "big")).public_key()
    pub.verify(b64d(s64), (h64 + "." + p64).encode(), padding.PKCS1v15(), hashes.SHA256())
    c = json.loads(b64d(p64))
    now = time.time()
    check(c["iss"] == ISS, "iss", c)
    check(c["aud"] == client_id and c["azp"] == client_id, "aud/azp", c)
    check(c["iat"] <= now + 5 and c["exp"] > now + 60, "iat/exp", c)
    check(c.get("nonce") == nonce, "nonce", c)
    check("acr" not in c, "no acr from glewlwyd 2.7", c)
    check(c["sub"], "sub", c)
    return c


def code_flows(jwk):
    alice = idp.session(ENV, "alice")
    tok, sent = idp.authorize(ENV, alice)
    check("login.html" in sent["login_page"], "authorize without a session -> login page",
          sent["login_page"])
    c = verify(tok["id_token"], jwk, idp.CLIENT_ID, sent["nonce"])
    check(c["groups"] == ["helpdesk"] and c["amr"] == ["password"], "alice's claims", c)
    check(tok["scope"] == "openid groups", "alice has no mfa scope", tok["scope"])
    # auth_time is the session age glewlwyd finds on the token request: 0
    # for a relying party's back-channel request (no IdP cookie on it).
    ok("code flow + PKCE, alice: groups %s amr %s auth_time %s" % (c["groups"], c["amr"],
                                                                   c.get("auth_time")))
    _, info = alice.ok("GET", ISS + "/userinfo", "userinfo",
                       headers={"Authorization": "Bearer " + tok["access_token"]})
    check(info["sub"] == c["sub"] and info["groups"] == ["helpdesk"], "userinfo", info)

    # PKCE is enforced, and a code is good once.
    _, sent = idp.authorize(ENV, alice, exchange=False)
    bad, body = idp.token(ENV, sent, verifier=idp.pkce()[0])
    check(bad in (400, 403), "wrong code_verifier refused", "%d %s" % (bad, body))
    bad_body = body
    _, sent = idp.authorize(ENV, alice, exchange=False)
    st, _ = idp.token(ENV, sent)
    check(st == 200, "code exchange", st)
    st, body = idp.token(ENV, sent)
    check(st in (400, 403), "replayed code refused", "%d %s" % (st, body))
    ok("wrong PKCE verifier: %d %s; replayed code: %d %s" % (bad, bad_body, st, body))

    carol = idp.session(ENV, "carol")   # password only
    try:
        idp.authorize(ENV, carol)
        check(False, "carol without TOTP got a code for the mfa scope")
    except idp.LoginRequired as e:
        check("login.html" in str(e), "back to the login page", str(e))
    tok, sent = idp.authorize(ENV, carol, scope="openid groups")
    c = verify(tok["id_token"], jwk, idp.CLIENT_ID, sent["nonce"])
    check(c["amr"] == ["password"] and c["groups"] == ["custodian"], "carol, password only", c)
    ok("carol, password only: mfa scope -> login page; 'openid groups' -> amr %s" % c["amr"])

    carol = idp.session(ENV, "carol", ENV["IDP_TOTP_CAROL"])
    tok, sent = idp.authorize(ENV, carol)
    c = verify(tok["id_token"], jwk, idp.CLIENT_ID, sent["nonce"])
    check(c["amr"] == ["password", "otp"] and tok["scope"] == idp.SCOPES, "carol + TOTP", c)
    ok("code flow, carol + TOTP: amr %s, scope '%s'" % (c["amr"], tok["scope"]))
    # The same session, asking for openid alone: amr lists only the factors
    # of the scopes asked for, and groups comes with its scope only.
    tok, sent = idp.authorize(ENV, carol, scope="openid")
    c = verify(tok["id_token"], jwk, idp.CLIENT_ID, sent["nonce"])
    check(c["amr"] == ["password"] and "groups" not in c, "amr and groups follow the scopes", c)
    # One TOTP login per user per time step.
    st, _, _ = idp.Http(ENV["IDP_URL"], ENV["IDP_CA"]).request("POST", "/api/auth/", body={
        "username": "carol", "scheme_type": "otp", "scheme_name": idp.OTP_SCHEME,
        "value": {"value": idp.totp(ENV["IDP_TOTP_CAROL"])}})
    check(st == 401, "second TOTP login within the step refused", st)
    ok("same IdP session, scope openid: amr ['password'], no groups; 2nd TOTP login in the step: 401")
    return carol


def device_flows(jwk, carol):
    d = idp.device_start(ENV)
    check(d["verification_uri"] == ISS + "/device" and d["interval"] == 1, "device answer", d)
    st, body = idp.device_poll(ENV, d["device_code"])
    check(st == 400 and body["error"] == "authorization_pending", "pending", body)
    loc = idp.device_verify(ENV, carol, d["user_code"])
    check("prompt=deviceComplete" in loc, "device verification complete", loc)
    st, body = idp.device_poll(ENV, d["device_code"])
    check(st == 200, "device token", "%d %s" % (st, body))
    c = verify(body["id_token"], jwk, idp.CLIENT_ID)   # no nonce in this grant
    check(c["amr"] == ["password", "otp"] and c["groups"] == ["custodian"], "device claims", c)
    st, body = idp.device_poll(ENV, d["device_code"])
    check(st == 400 and body["error"] == "access_denied", "device code used twice", body)
    ok("device flow (confidential), carol: amr %s; reused device_code: access_denied" % c["amr"])

    d = idp.device_start(ENV, client_id=idp.CLI_CLIENT_ID, scope="openid groups")
    idp.device_verify(ENV, idp.session(ENV, "adam"), d["user_code"])
    st, body = idp.device_poll(ENV, d["device_code"], client_id=idp.CLI_CLIENT_ID)
    check(st == 200, "device token (public)", "%d %s" % (st, body))
    c = verify(body["id_token"], jwk, idp.CLI_CLIENT_ID)
    check(c["groups"] == ["admin"] and c["amr"] == ["password"], "adam's claims", c)
    ok("device flow (public client %s), adam: groups %s" % (idp.CLI_CLIENT_ID, c["groups"]))


def main():
    _, jwk = discovery()
    carol = code_flows(jwk)
    device_flows(jwk, carol)


if __name__ == "__main__":
    main()
