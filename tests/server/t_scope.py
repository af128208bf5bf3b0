#!/usr/bin/env python3
"""t_scope.py - scoped roles (issue 19): the route x role matrix's scope
dimension, against a real escrowd and a fleet enrolled by the independent
Python agent (device_agent.py) in groups emea-1, emea-2 and apac-1.

A helpdesk account scoped to emea-* (POST /v1/users/{name}/scope, as an
administrator sets it) gets 404 for an apac device by id, sees no apac
device in a search, cannot ask to retrieve one (by device, by Key ID or by
record id: 404, nothing stored) nor have it rotated, while it gets all of
that for an emea device.  A scoped auditor's coverage report lists only
its groups and says its scope; its retrieval report only their requests.
An unscoped helpdesk still sees everything.  Lifting the scope ("") works
at the account's next request.
"""
import base64
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import t_device as td  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402
from device_agent import request  # noqa: E402

URL = td.URL
check, expect, sql = td.check, td.expect, td.sql


def b64u(b):
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def user(name, role):
    """A local account with a token of its own (minted as the fixture does)."""
    sql("INSERT INTO users (name, role, pw_salt, pw_hash, pw_n, pw_r, pw_p) VALUES"
        " ('%s', '%s', decode(md5(random()::text), 'hex'), sha256(random()::text::bytea),"
        " 1024, 8, 1)" % (name, role))
    tok = "kea_" + b64u(os.urandom(32))
    import hashlib
    sql("INSERT INTO auth_tokens (user_id, kind, token_hash, name, expires) SELECT id, 'api',"
        " '\\x%s', 'scope', now() + interval '1 hour' FROM users WHERE name = '%s'"
        % (hashlib.sha256(tok.encode()).hexdigest(), name))
    return {"Authorization": "Bearer " + tok}


def set_scope(name, scope):
    r = request(URL, "POST", "/v1/users/%s/scope" % name, {"scope": scope}, td.auth("admin"))
    expect(r, 200, what="set scope of %s to %r" % (name, scope))


def fleet():
    td.publish(1)
    f = {}
    for host, group in (("emea-laptop", "emea-1"), ("emea-desk", "emea-2"), ("apac-laptop", "apac-1")):
        tok = td.new_token(uses=1, group=group)[0]
        a = td.enrolled(tok, hostname=host)
        r, _ = a.escrow("C:", os.urandom(32), key_type="bitlocker",
                        key_id="{%08X-1111-2222-3333-444455556666}" % (len(f) + 0xABC0))
        expect(r, 201, what="escrow " + host)
        f[host] = (a.device, r.json["record_id"], "%08X" % (len(f) + 0xABC0))
    return f


def retrieve(hd, key, name):
    """A signed retrieval request (docs/protocol.md section 8) naming the
    record by `name` ({"device": ...}, {"key_id": ...} or {"record": ...})."""
    rid = "req-" + "".join("abcdefghijklmnopqrstuvwxyz234567"[b & 31] for b in os.urandom(26))
    E = b64u(bytes.fromhex("036b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"))
    nonce = b64u(os.urandom(16))
    f = {"id": rid, "device": name.get("device", ""), "volume": "", "key_id": name.get("key_id", ""),
         "E": E, "reason": "locked out", "ticket": "INC-7", "nonce": nonce}
    stmt = "keyescrow-v1-retrieval-request\n" + "".join(
        "%s=%s\n" % (k, f[k]) for k in ("id", "device", "volume", "key_id"))
    if name.get("record"):
        stmt += "record=%s\n" % name["record"]
    stmt += "".join("%s=%s\n" % (k, f[k]) for k in ("E", "reason", "ticket", "nonce"))
    body = {"request_id": rid, "E": E, "reason": f["reason"], "ticket": f["ticket"],
            "nonce": nonce, "signature": b64u(key.sign(stmt.encode())), **name}
    return request(URL, "POST", "/v1/retrievals", body, hd), rid


def main():
    f = fleet()
    hd = user("hd-emea", "helpdesk")
    hd_all = user("hd-all", "helpdesk")
    aud = user("aud-emea", "auditor")
    set_scope("hd-emea", "emea-*")
    set_scope("aud-emea", "emea-*")
    r = request(URL, "POST", "/v1/users/hd-emea/scope", {"scope": "emea-*,bad group"},
                td.auth("admin"))
    expect(r, 400, "bad_request", what="a scope pattern with a space")
    r = request(URL, "GET", "/v1/users", headers=td.auth("admin"))
    scopes = {u["name"]: u["scope"] for u in r.json["users"]}
    check(scopes["hd-emea"] == "emea-*" and scopes["hd-all"] is None, "user list scope %s" % scopes)

    apac, emea = f["apac-laptop"], f["emea-laptop"]
    # By id: 404 outside the scope, the device inside it.
    r = request(URL, "GET", "/v1/devices/" + apac[0], headers=hd)
    expect(r, 404, "not_found", what="an apac device by id, scoped to emea-*")
    expect(request(URL, "GET", "/v1/devices/" + emea[0], headers=hd), 200, what="an emea device")
    expect(request(URL, "GET", "/v1/devices/" + apac[0], headers=hd_all), 200, what="unscoped")
    # Search (by prefix): the scoped account finds no apac device, by name
    # or Key ID, and both emea ones; the unscoped one finds the apac one.
    r = request(URL, "GET", "/v1/devices?q=apac", headers=hd)
    check(r.json["devices"] == [], "a scoped search found %s" % r.json["devices"])
    r = request(URL, "GET", "/v1/devices?q=%s" % apac[2], headers=hd)  # by Key ID
    check(r.json["devices"] == [], "a Key ID search found an apac device: %s" % r.json)
    r = request(URL, "GET", "/v1/devices?q=emea", headers=hd)
    hosts = sorted(d["hostname"] for d in r.json["devices"])
    check(hosts == ["emea-desk", "emea-laptop"], "scoped search saw %s" % hosts)
    r = request(URL, "GET", "/v1/devices?q=apac", headers=hd_all)
    check(len(r.json["devices"]) == 1, "unscoped search %s" % r.json)
    r = request(URL, "GET", "/v1/devices?q=%s" % apac[2], headers=hd_all)
    check(len(r.json["devices"]) == 1, "unscoped Key ID search %s" % r.json)
    td.ok("scoped helpdesk: 404 for an apac device by id, no apac device in search")

    # Retrieval: by device, Key ID or record id of an apac device: 404.
    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    expect(request(URL, "PUT", "/v1/client-key", {"public_key": b64u(pub)}, hd), 200,
           what="client key")
    before = sql("SELECT count(*) FROM retrievals")
    for name in ({"device": "apac-laptop"}, {"device": apac[0]}, {"key_id": apac[2]},
                 {"record": apac[1]}):
        r, _ = retrieve(hd, key, name)
        expect(r, 404, "not_found", what="a retrieval of an apac record by %s" % name)
    check(sql("SELECT count(*) FROM retrievals") == before, "a refused request was stored")
    r, rid = retrieve(hd, key, {"device": "emea-laptop"})
    expect(r, 201, what="a retrieval of the emea device")
    r = request(URL, "POST", "/v1/devices/%s/rotate" % apac[0], {"reason": "scope test"}, hd)
    expect(r, 404, "not_found", what="rotate of an apac device")
    td.ok("scoped helpdesk: no retrieval (by device, Key ID or record) and no rotation of an "
          "apac device; an emea one works")

    # Reports: the scoped auditor's cover its groups and say so.
    r = request(URL, "GET", "/v1/reports/coverage", headers=aud)
    expect(r, 200, what="scoped coverage report")
    hosts = sorted(d["hostname"] for d in r.json["devices"])
    check(hosts == ["emea-desk", "emea-laptop"] and r.json["parameters"]["scope"] == "emea-*",
          "scoped coverage: %s %s" % (hosts, r.json["parameters"]))
    r = request(URL, "GET", "/v1/reports/coverage", headers=td.auth("auditor"))
    check(len(r.json["devices"]) == 3 and r.json["parameters"]["scope"] is None,
          "unscoped coverage %s" % r.json["parameters"])
    r = request(URL, "GET", "/v1/reports/retrievals?since=2000-01-01", headers=aud)
    expect(r, 200, what="scoped retrieval report")
    check([x["retrieval_id"] for x in r.json["retrievals"]] == [rid],
          "scoped retrieval report %s" % r.json)
    td.ok("scoped auditor: coverage and retrieval reports of its groups only, scope stated")

    # The queue and a request's status: a scoped auditor sees only its
    # groups' requests (an apac request made by an unscoped helpdesk is a
    # 404 and absent from the list).
    key2 = Ed25519PrivateKey.generate()
    pub2 = key2.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    expect(request(URL, "PUT", "/v1/client-key", {"public_key": b64u(pub2)}, hd_all), 200,
           what="client key of hd-all")
    r, apac_rid = retrieve(hd_all, key2, {"device": "apac-laptop"})
    expect(r, 201, what="an unscoped retrieval of the apac device")
    r = request(URL, "GET", "/v1/retrievals?state=pending", headers=aud)
    ids = [x["request_id"] for x in r.json["retrievals"]]
    check(rid in ids and apac_rid not in ids, "scoped auditor's queue: %s" % ids)
    expect(request(URL, "GET", "/v1/retrievals/" + apac_rid, headers=aud), 404, "not_found",
           what="an apac request's status for a scoped auditor")
    expect(request(URL, "GET", "/v1/retrievals/" + rid, headers=aud), 200,
           what="an emea request's status for a scoped auditor")
    r = request(URL, "GET", "/v1/retrievals?state=pending", headers=td.auth("auditor"))
    check(apac_rid in [x["request_id"] for x in r.json["retrievals"]], "unscoped auditor's queue")
    td.ok("scoped auditor: the retrieval queue and status of its groups only")
    # Scopes mean something for helpdesk and auditor only.
    r = request(URL, "POST", "/v1/users/dev-admin/scope", {"scope": "emea-*"}, td.auth("admin"))
    expect(r, 409, "conflict", what="a scope on an admin")
    r = request(URL, "POST", "/v1/users/hd-emea/role", {"role": "admin"}, td.auth("admin"))
    expect(r, 409, "conflict", what="a scoped helpdesk made admin")
    td.ok("no scope on admin or custodian accounts (refused, not ignored)")

    set_scope("hd-emea", "")
    expect(request(URL, "GET", "/v1/devices/" + apac[0], headers=hd), 200,
           what="the apac device after the scope was lifted")
    td.ok("lifting the scope applies at the next request")


main()
