#!/usr/bin/env python3
"""t_device.py SECTION - end-to-end tests of escrowd's device API against a
real escrowd and PostgreSQL (the world of t_device_lib.sh), with the
independent agent implementation of device_agent.py.

  core      escrow keys, enrolment tokens, enrolment, escrow, receipts,
            request signatures, replays, validation
  checkin   check-in, rotation requests, moving to a new escrow key,
            device search and reads, what each role and a device may call,
            people acting on a device (rotate request, disable, enable)
  secrets   every action audited; pg_dump and the server log hold no secret
            and no enrolment token; a stored envelope opens offline
"""
import base64
import hashlib
import http.client
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(os.environ["KE_DEV_SRC"], "tests", "audit"))
from cryptography.hazmat.primitives import serialization  # noqa: E402
from device_agent import (Agent, b64u, ed_pub, manifest_q, request,  # noqa: E402
                          sign_headers, unb64u, verifier, verifier_v2)
import note_verify  # noqa: E402

E = os.environ
URL, WORK = E["KE_DEV_URL"], E["KE_DEV_WORK"]
TOK = {r: E["KE_DEV_" + r.upper()] for r in ("admin", "helpdesk", "auditor", "custodian")}
CHECKS = 0


def fail(msg):
    print("[t_device] FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    global CHECKS
    CHECKS += 1
    if not cond:
        fail(msg)


def ok(msg):
    print("[t_device] ok: " + msg)


def expect(r, status, code=None, what=""):
    check(r.status == status, "%s: expected %d, got %r" % (what, status, r))
    if code:
        check(r.error_code() == code and r.json["error"].get("message"),
              "%s: expected error %s, got %r" % (what, code, r))
        check(set(r.json) == {"error"} and set(r.json["error"]) == {"code", "message"},
              "%s: error shape %r" % (what, r))


def auth(role):
    return {"Authorization": "Bearer " + TOK[role]}


def sql(q, owner=False):
    dsn = E["KE_DEV_OWNER_DSN" if owner else "KE_DEV_APP_DSN"]
    out = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", dsn, "-c", q],
                         capture_output=True, text=True)
    if out.returncode != 0:
        fail("psql: %s: %s" % (q, out.stderr))
    return out.stdout.strip()


def sql_refused(q, owner=False):
    dsn = E["KE_DEV_OWNER_DSN" if owner else "KE_DEV_APP_DSN"]
    out = subprocess.run(["psql", "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", dsn, "-c", q],
                         capture_output=True, text=True)
    check(out.returncode != 0, "the database accepted: %s" % q)
    return out.stderr


def counts():
    """Everything a request could change."""
    return sql("SELECT (SELECT count(*) FROM devices), (SELECT count(*) FROM escrow_records),"
               " (SELECT count(*) FROM request_nonces), (SELECT count(*) FROM audit_log)"
               " + (SELECT count(*) FROM audit_queue),"
               " (SELECT string_agg(id || state, ',' ORDER BY id) FROM escrow_records),"
               " (SELECT sum(uses_left) FROM enrollment_tokens)")


def manifest(n):
    return json.load(open(os.path.join(WORK, "k%d" % n, "keys", "escrow-key.json")))


def fingerprint(n):
    return open(os.path.join(WORK, "k%d" % n, "fpr")).read().strip()


def publish(n, state=None, role="admin"):
    body = {"manifest": manifest(n)}
    if state:
        body["state"] = state
    return request(URL, "POST", "/v1/escrow-key", body, auth(role))


def new_token(uses=5, group="laptops", expires_in=3600):
    r = request(URL, "POST", "/v1/enroll-tokens",
                {"group": group, "uses": uses, "expires_in": expires_in}, auth("admin"))
    expect(r, 201, what="enroll-token create")
    check(r.json["token"].startswith("ket_") and len(r.json["token"]) == 47, "token shape")
    return r.json["token"], r.json["id"]


def log_vkey():
    r = request(URL, "GET", "/v1/audit/key")
    expect(r, 200, what="audit key")
    return r.json["verifier_key"]


def enrolled(token, **kw):
    a = Agent(URL)
    r = a.enroll(token, **kw)
    expect(r, 201, what="enrol")
    return a


def audit_events():
    """Every committed event, sequenced or still queued, as dicts."""
    rows = sql("SELECT convert_from(leaf, 'UTF8') FROM audit_log UNION ALL"
               " SELECT convert_from(leaf_head || '\\x2c'::bytea || leaf_tail, 'UTF8')"
               " FROM audit_queue")
    return [json.loads(l) for l in rows.splitlines() if l]


def leaf_at(index):
    for _ in range(100):
        r = request(URL, "GET", "/v1/audit/entries?start=%d&end=%d" % (index, index + 1),
                    headers=auth("auditor"))
        if r.status == 200 and r.json["entries"]:
            return json.loads(base64.b64decode(r.json["entries"][0]["leaf"]))
        time.sleep(0.05)
    fail("audit entry %d never appeared" % index)


def verify_receipt(ans, agent, volume, env, vkey):
    """What the agent must check before it counts a key as escrowed."""
    text = note_verify.open_note(ans["receipt"].encode(), vkey)
    lines = text.split("\n")
    check(lines[0] == "keyescrow-v1-receipt" and lines[1] == agent.device and
          lines[2] == volume and lines[3] == ans["record_id"] and
          lines[4] == hashlib.sha256(env).hexdigest() and
          lines[5] == str(ans["leaf_index"]) and len(lines[6]) == 20 and
          lines[6].endswith("Z") and lines[7] == "", "receipt lines: %r" % text)
    leaf = leaf_at(ans["leaf_index"])
    check(leaf["action"] == "escrow.store" and leaf["object"] == "record:" + ans["record_id"]
          and leaf["actor"] == "device:" + agent.device, "receipt leaf %r" % leaf)


def bad_receipt_rejected(ans, vkey):
    note = ans["receipt"].replace("keyescrow-v1-receipt\n", "keyescrow-v1-receipt\nX", 1)
    try:
        note_verify.open_note(note.encode(), vkey)
    except note_verify.VerifyError:
        return
    fail("a tampered receipt verified")


# ---- core ----------------------------------------------------------------------

def core_keys_and_tokens():
    a = Agent(URL)
    expect(a.enroll(new_token()[0]), 409, "no_escrow_key", "enrol before any escrow key")
    expect(request(URL, "GET", "/v1/escrow-key"), 409, "no_escrow_key", "no current key")
    expect(publish(1, role="helpdesk"), 403, "forbidden", "publish as helpdesk")
    bad = manifest(1)
    c = bytearray(unb64u(bad["commitments"][1]))
    c[5] ^= 1
    bad["commitments"][1] = b64u(bytes(c))
    expect(request(URL, "POST", "/v1/escrow-key", {"manifest": bad}, auth("admin")), 400,
           "invalid_manifest", "tampered manifest")
    wrong_fpr = manifest(1)
    wrong_fpr["fingerprint"] = fingerprint(2)
    expect(request(URL, "POST", "/v1/escrow-key", {"manifest": wrong_fpr}, auth("admin")),
           400, "invalid_manifest", "manifest with another key's fingerprint")
    for body in ({"manifest": "x"}, {"manifest": manifest(1), "fingerprint": fingerprint(1)},
                 {"manifest": manifest(1), "state": "retired"}, {"state": "current"},
                 {"fingerprint": "zz", "state": "current"}, {"manifest": manifest(1), "x": 1}):
        expect(request(URL, "POST", "/v1/escrow-key", body, auth("admin")), 400,
               "bad_request", "escrow-key body %r" % list(body))
    r = publish(1)
    expect(r, 201, what="publish")
    check(r.json["fingerprint"] == fingerprint(1) and r.json["state"] == "current", "publish")
    r = publish(1)
    expect(r, 200, what="publish again")
    check(r.json["changed"] is False, "re-publish changes nothing")
    r = request(URL, "GET", "/v1/escrow-key")
    expect(r, 200, what="get escrow key")
    check(r.json["fingerprint"] == fingerprint(1) and manifest_q(r.json["manifest"])[2].hex()
          == fingerprint(1), "served manifest recomputes to its fingerprint")
    expect(request(URL, "GET", "/v1/escrow-key?fingerprint=" + fingerprint(2)), 404,
           "not_found", "unpublished fingerprint")
    expect(request(URL, "POST", "/v1/escrow-key",
                   {"fingerprint": fingerprint(1), "state": "retired"}, auth("admin")),
           409, "conflict", "retiring the current key")
    for body in ({"group": "g", "uses": 0, "expires_in": 600},
                 {"group": "-g", "uses": 1, "expires_in": 600},
                 {"group": "g" * 65, "uses": 1, "expires_in": 600},
                 {"group": "g", "uses": 1, "expires_in": 10},
                 {"group": "g", "uses": "1", "expires_in": 600},
                 {"group": "g", "uses": 1}, {"group": "g", "uses": 1, "expires_in": 600, "x": 0}):
        expect(request(URL, "POST", "/v1/enroll-tokens", body, auth("admin")), 400,
               "bad_request", "enroll-token %r" % body)
    expect(request(URL, "POST", "/v1/enroll-tokens", {"group": "g", "uses": 1,
                                                      "expires_in": 600}, auth("helpdesk")),
           403, "forbidden", "enroll-token as helpdesk")
    ok("escrow key publishing and enrolment token validation")


def core_enrolment():
    token, tid = new_token(uses=2)
    a = Agent(URL)
    r = a.enroll(token, hostname="Laptop-17", serial="C02XYZ",
                 hardware={"model": "T14", "ram_gb": 16, "tpm": True})
    expect(r, 201, what="enrol")
    check(a.device.startswith("dev-") and len(a.device) == 30, "device id")
    m = r.json["escrow_key"]
    check(manifest_q(m)[2].hex() == r.json["escrow_fingerprint"] == fingerprint(1),
          "enrolment manifest matches its fingerprint")
    check(r.json["log_key"] == log_vkey() and r.json["log_origin"] ==
          log_vkey().split("+")[0] and r.json["checkin_interval"] == 86400, "log key")
    before = counts()
    r2 = a.enroll(token)
    expect(r2, 200, what="enrolment retried with the same key")
    check(r2.json["device_id"] == a.device and
          sql("SELECT uses_left FROM enrollment_tokens WHERE id = %d" % tid) == "1",
          "a retried enrolment takes no second use")
    # The very same request again is a replay.
    body = json.dumps({"token": token, "device_key": b64u(ed_pub(a.priv)),
                       "hostname": "h", "serial": "", "os": "x", "hardware": {}}).encode()
    h = sign_headers(a.priv, "new", "POST", "/v1/enroll", body)
    expect(request(URL, "POST", "/v1/enroll", body, h), 200, what="first")
    n = counts()
    expect(request(URL, "POST", "/v1/enroll", body, h), 409, "replayed_request", "enrol replay")
    check(counts() == n, "an enrolment replay changes nothing")
    check(before.split("|")[:2] == n.split("|")[:2], "retries added no device")
    # Proof of possession.
    b = Agent(URL)
    body = json.dumps({"token": token, "device_key": b64u(ed_pub(b.priv)),
                       "hostname": "h", "serial": "s", "os": "x", "hardware": {}}).encode()
    other = Agent(URL).priv
    expect(request(URL, "POST", "/v1/enroll", body,
                   sign_headers(other, "new", "POST", "/v1/enroll", body)),
           401, "bad_signature", "enrolment signed by another key")
    expect(request(URL, "POST", "/v1/enroll", body,
                   sign_headers(b.priv, a.device, "POST", "/v1/enroll", body)),
           401, "bad_signature", "enrolment with a device id")
    expect(request(URL, "POST", "/v1/enroll", body), 401, "bad_signature", "unsigned enrolment")
    expect(request(URL, "POST", "/v1/enroll", body,
                   sign_headers(b.priv, "new", "POST", "/v1/enroll", body,
                                ts=int(time.time()) - 1000)),
           401, "stale_request", "stale enrolment")
    check(counts() == n, "refused enrolment signatures change nothing")
    # Token states.
    expect(Agent(URL).enroll(token), 201, what="second use")
    expect(Agent(URL).enroll(token), 401, "invalid_enrollment_token", "used-up token")
    t2, id2 = new_token()
    sql("UPDATE enrollment_tokens SET created = now() - interval '2 hours',"
        " expires = now() - interval '1 hour' WHERE id = %d" % id2, owner=True)
    expect(Agent(URL).enroll(t2), 401, "invalid_enrollment_token", "expired token")
    t3, id3 = new_token()
    r = request(URL, "DELETE", "/v1/enroll-tokens/%d" % id3, headers=auth("admin"))
    expect(r, 200, what="revoke")
    check(r.json["already_revoked"] is False, "revoked")
    r = request(URL, "DELETE", "/v1/enroll-tokens/%d" % id3, headers=auth("admin"))
    check(r.status == 200 and r.json["already_revoked"] is True, "revoke again")
    expect(Agent(URL).enroll(t3), 401, "invalid_enrollment_token", "revoked token")
    expect(Agent(URL).enroll("ket_" + b64u(os.urandom(32))), 401, "invalid_enrollment_token",
           "unknown token")
    expect(Agent(URL).enroll("ket_short"), 400, "bad_request", "malformed token")
    expect(request(URL, "DELETE", "/v1/enroll-tokens/999999", headers=auth("admin")), 404,
           "not_found", "revoke unknown")
    # A key enrolled through one token cannot be enrolled through another.
    t4, _ = new_token()
    expect(a.enroll(t4), 409, "conflict", "device key of another enrolment")
    reasons = sorted(e["details"]["reason"] for e in audit_events()
                     if e["action"] == "device.enroll" and e["outcome"] == "denied")
    check(reasons == sorted(["exhausted", "expired", "revoked", "unknown",
                             "device_key_in_use"]), "refused enrolments audited: %r" % reasons)
    r = request(URL, "GET", "/v1/enroll-tokens?all=true", headers=auth("admin"))
    st = {t["id"]: t["status"] for t in r.json["enroll_tokens"]}
    check(st[tid] == "exhausted" and st[id2] == "expired" and st[id3] == "revoked", "list")
    check(all("token" not in t and "token_hash" not in t for t in r.json["enroll_tokens"]),
          "listing never shows tokens")
    r = request(URL, "GET", "/v1/enroll-tokens", headers=auth("admin"))
    check(tid not in [t["id"] for t in r.json["enroll_tokens"]], "default list: usable only")
    ok("enrolment: proof of possession, retry, replay, token expiry/use limit/revocation")
    return a


def core_escrow(a):
    vkey = log_vkey()
    secret = os.urandom(32)
    r, env = a.escrow("C:", secret, key_type="bitlocker", key_id="{8F3A2B1C-1111-2222-3333-444455556666}")
    expect(r, 201, what="escrow")
    check(r.json["state"] == "active" and r.json["record_id"].startswith("rec-"), "record")
    verify_receipt(r.json, a, "C:", env, vkey)
    bad_receipt_rejected(r.json, vkey)
    first = r.json
    # The same envelope again: one record, the original answer.
    body, _ = a.escrow_body("C:", secret)
    body["envelope"] = b64u(env)
    body["signature"] = b64u(a.priv.sign(env + a.device.encode() + b"\0C:"))
    body["key_type"], body["key_id"] = "bitlocker", "{8F3A2B1C-1111-2222-3333-444455556666}"
    n = counts()
    r = a.call("PUT", "/v1/devices/%s/keys/C:" % a.device, body)
    expect(r, 200, what="same envelope again")
    check(r.json == first, "idempotent re-upload returns the original record and receipt")
    check(sql("SELECT count(*) FROM escrow_records WHERE device_id = '%s'" % a.device) == "1",
          "one record")
    check(counts().split("|")[3] == n.split("|")[3], "a re-upload appends no audit event")
    # The first answer can be lost after commit but before the record's leaf
    # index is stored: a re-upload then finds it in the audit log.
    sql("ALTER TABLE escrow_records DISABLE TRIGGER escrow_records_immutable;"
        " UPDATE escrow_records SET leaf_index = NULL WHERE id = '%s';"
        " ALTER TABLE escrow_records ENABLE TRIGGER escrow_records_immutable"
        % first["record_id"], owner=True)
    r = a.call("PUT", "/v1/devices/%s/keys/C:" % a.device, body)
    expect(r, 200, what="re-upload of a record without its leaf index")
    check(r.json == first and sql("SELECT leaf_index FROM escrow_records WHERE id = '%s'"
                                  % first["record_id"]) == str(first["leaf_index"]),
          "the leaf index is found again and stored")
    # Records are history: never deleted, their content never rewritten.
    rid = first["record_id"]
    err = sql_refused("DELETE FROM escrow_records WHERE id = '%s'" % rid)
    check("permission denied" in err, "the application role cannot delete: %s" % err)
    sql_refused("UPDATE escrow_records SET envelope = '\\x00' WHERE id = '%s'" % rid)
    for q in ("DELETE FROM escrow_records WHERE id = '%s'" % rid,
              "UPDATE escrow_records SET verifier = verifier || '\\x00' WHERE id = '%s'" % rid,
              "UPDATE escrow_records SET leaf_index = leaf_index + 1 WHERE id = '%s'" % rid,
              "TRUNCATE escrow_records CASCADE"):
        err = sql_refused(q, owner=True)
        check("refused" in err or "may only change" in err, "owner: %s: %s" % (q, err))
    # A new envelope supersedes.
    r, env2 = a.escrow("C:", os.urandom(32))
    expect(r, 201, what="new envelope")
    verify_receipt(r.json, a, "C:", env2, vkey)
    rows = sql("SELECT id, state, coalesce(superseded_by, '') FROM escrow_records WHERE"
               " device_id = '%s' ORDER BY created, state" % a.device).splitlines()
    check(sorted(rows) == sorted(["%s|superseded|%s" % (first["record_id"], r.json["record_id"]),
                                  "%s|active|" % r.json["record_id"]]), "history: %r" % rows)
    check(r.json["leaf_index"] > first["leaf_index"], "leaf indices grow")
    ok("escrow: receipts verify, same envelope is idempotent, new envelope supersedes")
    return secret


def core_signatures(a):
    b = enrolled(new_token()[0], hostname="other-host")
    body, _ = a.escrow_body("D:", os.urandom(32))
    path = "/v1/devices/%s/keys/D:" % a.device
    raw = json.dumps(body).encode()
    n = counts()
    expect(b.call("PUT", path, raw=raw), 403, "forbidden", "device B writes A's record")
    expect(b.call("PUT", "/v1/devices/%s/keys/D:" % b.device, raw=raw, device=a.device), 401,
           "bad_signature", "B's path with A's id")
    expect(request(URL, "PUT", path, raw), 401, "unauthorized", "unsigned")
    h = sign_headers(a.priv, a.device, "PUT", path, raw)
    for k in ("X-KE-Signature", "X-KE-Nonce", "X-KE-Timestamp"):
        h2 = dict(h)
        del h2[k]
        expect(request(URL, "PUT", path, raw, h2), 401, "bad_signature", "without " + k)
    sig = bytearray(unb64u(h["X-KE-Signature"]))
    sig[10] ^= 4
    expect(request(URL, "PUT", path, raw, dict(h, **{"X-KE-Signature": b64u(bytes(sig))})),
           401, "bad_signature", "flipped signature bit")
    expect(request(URL, "PUT", path, raw.replace(b'"luks"', b'"other"'), h), 401,
           "bad_signature", "body changed after signing")
    expect(request(URL, "PUT", path, raw, dict(h, **{"X-KE-Nonce": b64u(os.urandom(16))})),
           401, "bad_signature", "nonce changed after signing")
    expect(request(URL, "PUT", path, raw, dict(h, **{"X-KE-Device": "dev-" + "a" * 26})),
           401, "bad_signature", "unknown device")
    expect(request(URL, "PUT", path, raw, dict(h, **{"X-KE-Nonce": "short"})), 401,
           "bad_signature", "malformed nonce")
    for skew in (-400, 400):
        expect(a.call("PUT", path, raw=raw, ts=int(time.time()) + skew), 401,
               "stale_request", "timestamp %+d s" % skew)
    expect(request(URL, "PUT", path + "?x=1", raw,
                   sign_headers(a.priv, a.device, "PUT", path + "?x=1", raw)), 401,
           "bad_signature", "query string")
    expect(a.call("GET", "/v1/devices/%s" % a.device), 403, "forbidden", "device reads itself")
    expect(a.call("GET", "/v1/devices"), 403, "forbidden", "device searches")
    check(counts().split("|")[:3] == n.split("|")[:3], "refused requests changed nothing")
    # Replay: the same signed request twice.
    r = request(URL, "PUT", path, raw, h)
    expect(r, 201, what="signed escrow")
    n = counts()
    expect(request(URL, "PUT", path, raw, h), 409, "replayed_request", "replay")
    check(counts() == n, "a replay changes nothing (rows, nonces, audit)")
    check(sql("SELECT count(*) FROM audit_log l WHERE convert_from(leaf, 'UTF8') LIKE"
              " '%%auth.denied%%device:%s%%'" % b.device) != "0" or
          any(e["action"] == "auth.denied" and e["actor"] == "device:" + b.device
              for e in audit_events()), "denied device request audited")
    sql("UPDATE devices SET disabled = true WHERE id = '%s'" % b.device, owner=True)
    body_b, _ = b.escrow_body("E:", os.urandom(32))
    expect(b.call("PUT", "/v1/devices/%s/keys/E:" % b.device, body_b), 401, "bad_signature",
           "disabled device")
    ok("signatures: other device 403, unsigned/forged/stale 401, replay 409 changes nothing")


def core_validation(a):
    path = "/v1/devices/%s/keys/" % a.device
    good, env = a.escrow_body("V1", os.urandom(32))
    n = counts()

    def put(body, vol="V1", raw=None):
        return a.call("PUT", path + vol, body, raw=raw)

    cases = [
        (dict(good, envelope=b64u(os.urandom(200))), 400, "invalid_envelope"),
        (dict(good, envelope=b64u(env[:100])), 400, "invalid_envelope"),
        (dict(good, envelope=good["envelope"] + "="), 400, "bad_request"),
        (dict(good, signature=b64u(a.priv.sign(env + a.device.encode() + b"\0V2"))), 400,
         "invalid_envelope_signature"),
        (dict(good, verifier=b64u(os.urandom(31))), 400, "bad_request"),
        (dict(good, signature=b64u(os.urandom(63))), 400, "bad_request"),
        (dict(good, key_type="ntfs"), 400, "bad_request"),
        (dict(good, key_id="k" * 129), 400, "bad_request"),
        (dict(good, key_id="a\nb"), 400, "bad_request"),
        (dict(good, key_id=""), 400, "bad_request"),
        (dict(good, envelope=12), 400, "bad_request"),
        (dict(good, key_type=None), 400, "bad_request"),
        (dict(good, extra=1), 400, "bad_request"),
        ({k: v for k, v in good.items() if k != "verifier"}, 400, "bad_request"),
        (dict(good, envelope="A" * 900000), 400, "bad_request"),
    ]
    for body, st, code in cases:
        expect(put(body), st, code, "escrow body %s" % json.dumps(body)[:80])
    unknown, _ = a.escrow_body("V1", os.urandom(32), manifest=manifest(3))
    expect(put(unknown), 422, "unknown_escrow_key", "envelope for an unpublished key")
    expect(put(good, vol="x" * 129), 400, "bad_request", "volume too long")
    expect(put(good, vol="a+b"), 400, "bad_request", "volume with a +")
    # A percent-encoded segment that decodes to no valid volume: 400 before
    # the signature is looked at (more in core_paths).
    expect(put(good, vol="a%20b"), 400, "bad_request", "percent-encoded volume")
    expect(put(None, raw=b'{"envelope": '), 400, "malformed_json", "truncated JSON")
    expect(put(None, raw=b'[1, 2]'), 400, "malformed_json", "array body")
    expect(put(None, raw=b'{"a": 1, "a": 2}'), 400, "malformed_json", "duplicate keys")
    expect(put(None, raw=b'{"envelope": "\\u0000"}'), 400, "malformed_json", "NUL")
    c = http.client.HTTPConnection(URL.split("//")[1], timeout=20)
    c.putrequest("PUT", path + "V1")
    for k, v in sign_headers(a.priv, a.device, "PUT", path + "V1", b"").items():
        c.putheader(k, v)
    c.putheader("Content-Type", "application/json")
    c.putheader("Content-Length", str(2 << 20))
    c.endheaders()
    resp = c.getresponse()
    check(resp.status == 413 and json.loads(resp.read())["error"]["code"] ==
          "payload_too_large", "a 2 MiB body is refused before it is read")
    c.close()
    h = sign_headers(a.priv, a.device, "PUT", path + "V1", json.dumps(good).encode())
    h["Content-Type"] = "text/plain"
    expect(request(URL, "PUT", path + "V1", json.dumps(good).encode(), h), 415,
           "unsupported_media_type", "text/plain")
    check(counts().split("|")[:2] == n.split("|")[:2], "bad input stored nothing")
    expect(request(URL, "GET", "/healthz"), 200, what="still serving")
    expect(put(good), 201, what="the good body still works")
    ok("escrow validation: every field, types, sizes, unknown key 422, bad JSON, 413, 415")


# ---- checkin -------------------------------------------------------------------

def checkin_v2():
    """A v2 (scrypt) verifier, made by this independent implementation, is
    stored as sent and check-in compares it: the same salt and parameters
    recomputed match; another salt, a v1 or a v2 of another secret do not."""
    a = enrolled(new_token()[0], hostname="ws-typed", serial="PF2TYPED")
    s = b"operator typed: Vq7-zephyr-quibble"
    body, _ = a.escrow_body("typed", s, key_type="other", key_id="typed")
    v2 = verifier_v2(s, a.device, "typed")
    body["verifier"] = b64u(v2)
    r = a.call("PUT", "/v1/devices/%s/keys/typed" % a.device, body)
    expect(r, 201, what="escrow with a v2 verifier")
    rec = r.json["record_id"]
    row = sql("SELECT length(verifier), encode(verifier, 'hex') FROM escrow_records"
              " WHERE id = '%s'" % rec)
    check(row == "54|" + v2.hex(), "v2 stored as sent: %r" % row)

    def match(ver):
        r = a.checkin([{"volume_id": "typed", "record_id": rec, "verifier": b64u(ver),
                        "unlock_check": "unsupported"}])
        expect(r, 200, what="check-in v2")
        return r.json["volumes"][0]["verifier_match"]
    salt = v2[6:22]
    check(match(verifier_v2(s, a.device, "typed", salt=salt)) is True, "v2 recomputed matches")
    check(match(verifier_v2(s, a.device, "typed")) is False, "v2 with another salt")
    check(match(verifier_v2(s + b"!", a.device, "typed", salt=salt)) is False, "v2, other secret")
    check(match(verifier(s, a.device, "typed")) is False, "v1 against a v2 record")
    check(sql("SELECT last_verifier_match FROM escrow_records WHERE id = '%s'" % rec) == "f",
          "the last match stored")
    # Malformed or cheap v2: a 400, never stored or compared.
    cheap = verifier_v2(s, a.device, "typed", salt=salt, log2n=10)
    for bad in (cheap, b"KV\x01" + v2[3:], b"KW" + v2[2:], v2[:53], os.urandom(54)):
        r = a.checkin_raw({"agent_version": "1", "volumes": [
            {"volume_id": "typed", "record_id": rec, "verifier": b64u(bad),
             "unlock_check": "unsupported"}]})
        expect(r, 400, "bad_request", "check-in with a malformed v2")
        body["verifier"] = b64u(bad)
        expect(a.call("PUT", "/v1/devices/%s/keys/typed2" % a.device, body), 400, "bad_request",
               "escrow with a malformed v2")
    ok("check-in and escrow: v2 verifiers stored as sent, compared; cheap or malformed refused")


def checkin_all():
    publish(1)
    a = enrolled(new_token()[0], hostname="ws-0042", serial="PF2ABCDE")
    s1, s2 = os.urandom(32), os.urandom(48)
    r1, _ = a.escrow("C:", s1, key_type="bitlocker", key_id="{0A1B2C3D-0000-1111-2222-333344445555}")
    r2, _ = a.escrow("luks-1", s2)
    rec1, rec2 = r1.json["record_id"], r2.json["record_id"]
    v = lambda s, vol: b64u(verifier(s, a.device, vol))  # noqa: E731
    r = a.checkin([{"volume_id": "C:", "record_id": rec1, "verifier": v(s1, "C:"),
                    "unlock_check": "unsupported"},
                   {"volume_id": "luks-1", "record_id": rec2, "verifier": v(s1, "luks-1"),
                    "unlock_check": "ok"}])
    expect(r, 200, what="checkin")
    check(r.json["escrow_fingerprint"] == fingerprint(1) and r.json["rotate"] == [] and
          "escrow_key" not in r.json and r.json["checkin_interval"] == 86400, "answer %r" % r)
    check({x["volume_id"]: x["verifier_match"] for x in r.json["volumes"]} ==
          {"C:": True, "luks-1": False}, "verifier matches %r" % r.json["volumes"])
    row = sql("SELECT last_verifier_match, last_verifier_at IS NOT NULL, last_unlock_check"
              " FROM escrow_records WHERE id = '%s'" % rec2)
    check(row == "f|t|ok", "observations stored: %r" % row)
    check(sql("SELECT last_checkin IS NOT NULL, agent_version FROM devices WHERE id = '%s'"
              % a.device) == "t|0.1.0-test", "liveness stored")
    r = a.checkin([{"volume_id": "C:", "record_id": rec1, "unlock_check": "unsupported"},
                   {"volume_id": "luks-1", "record_id": "rec-" + "a" * 26,
                    "verifier": v(s2, "luks-1"), "unlock_check": "failed"}],
                  escrow_key="unpinned")
    check({x["volume_id"]: x["verifier_match"] for x in r.json["volumes"]} ==
          {"C:": None, "luks-1": False}, "no verifier -> null, unknown record -> false")
    check(sql("SELECT last_verifier_match FROM escrow_records WHERE id = '%s'" % rec1) == "t",
          "a check-in without verifier keeps the last match")
    check(sql("SELECT escrow_key_status FROM devices WHERE id = '%s'" % a.device) == "unpinned",
          "unpinned report stored")
    # Replays and bad bodies.
    body = json.dumps({"agent_version": "1", "volumes": []}).encode()
    path = "/v1/devices/%s/checkin" % a.device
    h = sign_headers(a.priv, a.device, "POST", path, body)
    expect(request(URL, "POST", path, body, h), 200, what="checkin")
    n = counts()
    expect(request(URL, "POST", path, body, h), 409, "replayed_request", "checkin replay")
    check(counts() == n, "a check-in replay changes nothing")
    vol = {"volume_id": "C:", "record_id": rec1, "unlock_check": "ok"}
    for b in ({"volumes": []}, {"agent_version": "1", "volumes": {}},
              {"agent_version": "1", "volumes": [vol] * 2},
              {"agent_version": "1", "volumes": [dict(vol, volume_id="C:%d" % i)
                                                 for i in range(257)]},
              {"agent_version": "1", "volumes": [dict(vol, unlock_check="maybe")]},
              {"agent_version": "1", "volumes": [dict(vol, record_id="rec-x")]},
              {"agent_version": "1", "volumes": [dict(vol, verifier="AAAA")]},
              {"agent_version": "1", "volumes": [dict(vol, extra=1)]},
              {"agent_version": "1", "volumes": [], "escrow_key": "maybe"},
              {"agent_version": "\u00e9", "volumes": []}):
        expect(a.checkin_raw(b), 400, "bad_request", "checkin body %s" % json.dumps(b)[:60])
    ok("check-in: verifier match true/false/null, unlock check, liveness, replay, validation")
    checkin_v2()

    # Rotation: a disclosed record (set by a retrieval, next issue).
    sql("UPDATE escrow_records SET state = 'disclosed' WHERE id = '%s'" % rec1, owner=True)
    r = a.checkin([])
    check(r.json["rotate"] == [{"volume_id": "C:", "reason": "disclosed"}], "rotate %r" % r)
    # A new escrow key: announced, the old one still accepted.
    r = publish(2)
    expect(r, 201, what="publish key 2")
    check(r.json["demoted"] == fingerprint(1), "old key demoted to accepted")
    r = a.checkin([])
    check(r.json["escrow_fingerprint"] == fingerprint(2) and
          manifest_q(r.json["escrow_key"])[2].hex() == fingerprint(2), "new key announced")
    check(sorted((x["volume_id"], x["reason"]) for x in r.json["rotate"]) ==
          [("C:", "disclosed"), ("luks-1", "escrow_key_changed")], "rotate %r" % r.json)
    r, _ = a.escrow("luks-1", os.urandom(32), manifest=manifest(1))
    expect(r, 201, what="escrow under the accepted old key")
    r, _ = a.escrow("C:", os.urandom(32), manifest=manifest(2))
    expect(r, 201, what="rotation of the disclosed key")
    check(sql("SELECT state FROM escrow_records WHERE id = '%s'" % rec1) == "rotated",
          "a disclosed record that is replaced is 'rotated'")
    r = request(URL, "POST", "/v1/escrow-key", {"fingerprint": fingerprint(1),
                                               "state": "retired"}, auth("admin"))
    expect(r, 200, what="retire key 1")
    expect(a.escrow("luks-1", os.urandom(32), manifest=manifest(1))[0], 422,
           "unknown_escrow_key", "upload under a retired key")
    r = request(URL, "GET", "/v1/escrow-keys")
    check({k["fingerprint"]: k["state"] for k in r.json["escrow_keys"]} ==
          {fingerprint(1): "retired", fingerprint(2): "current"}, "key states %r" % r.json)
    ok("rotation: disclosed and escrow_key_changed, accepted old key, retired key refused")
    return a


def admin_actions(a):
    """POST /v1/devices/{id}/rotate|disable|enable (schema 008)."""
    base = "/v1/devices/%s/" % a.device

    def post(action, body, role):
        return request(URL, "POST", base + action, body, auth(role))

    def events(action):
        return [e for e in audit_events()
                if e["action"] == action and e.get("object") == "device:" + a.device]

    publish(2)  # current again, whatever the sections before left
    cur = sql("SELECT id FROM escrow_records WHERE device_id = '%s' AND volume_id = 'luks-1'"
              " AND state = 'active'" % a.device)
    check(cur.startswith("rec-"), "luks-1 has a current record")
    # Who may ask, and bad input: nothing changes (refusals by role are
    # audited as auth.denied, so compare the records themselves).
    state = lambda: sql("SELECT string_agg(id || state || coalesce(rotate_reason, '-'), ','"  # noqa: E731
                        " ORDER BY id) FROM escrow_records")
    n = state()
    expect(post("rotate", {"reason": "x"}, "auditor"), 403, "forbidden", "auditor rotate")
    expect(post("rotate", {"reason": "x"}, "custodian"), 403, "forbidden", "custodian rotate")
    for b in ({}, {"reason": ""}, {"reason": "x" * 501}, {"reason": "a\nb"},
              {"reason": "x", "volume_id": "bad/vol"}, {"reason": "x", "extra": 1},
              {"reason": 7}):
        expect(post("rotate", b, "helpdesk"), 400, "bad_request", "rotate body %r" % b)
    expect(request(URL, "POST", "/v1/devices/dev-%s/rotate" % ("a" * 26), {"reason": "x"},
                   auth("helpdesk")), 404, "not_found", "rotate unknown device")
    expect(post("rotate", {"reason": "x", "volume_id": "nope"}, "helpdesk"), 409, "conflict",
           "rotate a volume without a record")
    check(state() == n and not events("device.rotate_request"), "refusals change nothing")
    # The helpdesk asks for one volume: the check-in says "requested".
    r = post("rotate", {"reason": "laptop left unattended", "volume_id": "luks-1"}, "helpdesk")
    expect(r, 200, what="rotate request")
    check(r.json == {"device_id": a.device, "volumes": ["luks-1"],
                     "reason": "laptop left unattended"}, "rotate answer %r" % r.json)
    r = a.checkin([])
    check(("luks-1", "requested") in [(x["volume_id"], x["reason"]) for x in r.json["rotate"]],
          "check-in asks to rotate: %r" % r.json["rotate"])
    g = request(URL, "GET", "/v1/devices/" + a.device, headers=auth("helpdesk"))
    rec = [x for x in g.json["records"] if x["record_id"] == cur][0]
    check(rec["rotate_requested"] and rec["rotate_reason"] == "laptop left unattended" and
          rec["rotate_requested_by"].startswith("user:"), "record shows the request %r" % rec)
    ev = events("device.rotate_request")
    check(len(ev) == 1 and ev[0]["details"]["volumes"] == ["luks-1"] and
          ev[0]["details"]["reason"] == "laptop left unattended", "audited %r" % ev)
    # The rotated record closes it: the next check-in no longer asks.
    r, _ = a.escrow("luks-1", os.urandom(32), manifest=manifest(2))
    expect(r, 201, what="rotated luks-1")
    r = a.checkin([])
    check("luks-1" not in [x["volume_id"] for x in r.json["rotate"]],
          "request closed by the rotation: %r" % r.json["rotate"])
    check(sql("SELECT state FROM escrow_records WHERE id = '%s'" % cur) == "superseded",
          "the old record is superseded")
    # All volumes at once (an admin may too).
    r = post("rotate", {"reason": "policy"}, "admin")
    expect(r, 200, what="rotate all")
    check(sorted(r.json["volumes"]) == ["C:", "luks-1"], "every current volume %r" % r.json)
    ok("rotate requests: roles, validation, 404/409, check-in says requested until rotated")

    # Disable: the device's signed requests are refused; enable restores.
    expect(post("disable", {"reason": "stolen"}, "helpdesk"), 403, "forbidden",
           "helpdesk disable")
    expect(post("disable", {}, "admin"), 400, "bad_request", "disable without reason")
    r = post("disable", {"reason": "reported stolen, ticket 4711"}, "admin")
    expect(r, 200, what="disable")
    check(r.json == {"device_id": a.device, "disabled": True, "was_disabled": False},
          "disable answer %r" % r.json)
    expect(a.checkin([]), 401, "bad_signature", "disabled device's check-in")
    g = request(URL, "GET", "/v1/devices/" + a.device, headers=auth("auditor"))
    d = g.json["device"]
    check(d["disabled"] and d["disabled_reason"] == "reported stolen, ticket 4711" and
          d["disabled_by"].startswith("user:") and d["disabled_at"], "device shows %r" % d)
    r = post("disable", {"reason": "again"}, "admin")
    check(r.json["was_disabled"] is True, "disable is idempotent %r" % r.json)
    expect(request(URL, "POST", base + "enable", None, auth("helpdesk")), 403, "forbidden",
           "helpdesk enable")
    r = request(URL, "POST", base + "enable", None, auth("admin"))
    expect(r, 200, what="enable")
    check(r.json["disabled"] is False and r.json["was_disabled"] is True, "enable %r" % r.json)
    expect(a.checkin([]), 200, what="check-in after enable")
    check(sql("SELECT disabled_at IS NULL AND disabled_reason IS NULL FROM devices"
              " WHERE id = '%s'" % a.device) == "t", "enable clears the reason")
    check(len(events("device.disable")) == 2 and len(events("device.enable")) == 1,
          "disable and enable audited")
    sql_refused("UPDATE devices SET hostname = 'x' WHERE id = '%s'" % a.device)
    ok("disable/enable: admin only, reason, signed requests refused, audited")
    return a


def reads(a):
    for q, how in (("WS-00", "hostname"), ("pf2a", "serial"), ("0a1b2c3d", "key_id"),
                   ("{0A1B", "key_id")):
        r = request(URL, "GET", "/v1/devices?q=" + q, headers=auth("helpdesk"))
        expect(r, 200, what="search " + q)
        hit = [d for d in r.json["devices"] if d["device_id"] == a.device]
        check(len(hit) == 1 and how in hit[0]["matched"], "search %s: %r" % (q, r.json))
    r = request(URL, "GET", "/v1/devices?q=0a1b2c3d", headers=auth("auditor"))
    check(r.json["devices"][0]["records"][0]["key_id"].startswith("{0A1B2C3D"), "records")
    for q in ("%25", "_", "ws%25"):
        r = request(URL, "GET", "/v1/devices?q=" + q, headers=auth("helpdesk"))
        check(r.status == 200 and r.json["devices"] == [], "LIKE wildcards are literal: " + q)
    for q, what in (("", "empty"), ("x" * 129, "long"), ("a%0Ab", "control")):
        expect(request(URL, "GET", "/v1/devices?q=" + q, headers=auth("helpdesk")), 400,
               "bad_request", "search q " + what)
    expect(request(URL, "GET", "/v1/devices?q=a&limit=0", headers=auth("helpdesk")), 400,
           "bad_request", "limit 0")
    for role in ("admin", "custodian"):
        expect(request(URL, "GET", "/v1/devices?q=ws", headers=auth(role)), 403, "forbidden",
               "search as " + role)
    r = request(URL, "GET", "/v1/devices/" + a.device, headers=auth("helpdesk"))
    expect(r, 200, what="device read")
    check(r.json["device"]["hostname"] == "ws-0042" and len(r.json["records"]) == 4,
          "history of 4 records: %r" % r.json)
    text = r.raw.decode()
    envs = sql("SELECT encode(envelope, 'hex') || ' ' || encode(verifier, 'hex') || ' ' ||"
               " encode(agent_signature, 'hex') FROM escrow_records WHERE device_id = '%s'"
               % a.device).split()
    for hx in envs:
        raw = bytes.fromhex(hx)
        for form in (hx, b64u(raw), base64.b64encode(raw).decode(), b64u(raw[:24])):
            check(form not in text, "a device read shows envelope/verifier/signature bytes")
    check("envelope\"" not in text and "verifier\"" not in text, "no envelope field")
    expect(request(URL, "GET", "/v1/devices/dev-" + "b" * 26, headers=auth("helpdesk")), 404,
           "not_found", "unknown device")
    expect(request(URL, "GET", "/v1/devices/x", headers=auth("helpdesk")), 404, "not_found",
           "malformed id")
    expect(a.call("GET", "/v1/devices/%s/keys/C:" % a.device), 405, "method_not_allowed",
           "GET of a key")
    acts = [e["action"] for e in audit_events()]
    check("device.read" in acts and "device.search" in acts, "reads are audited")
    ok("reads: search by hostname/serial/Key ID prefix, history without envelope bytes, roles")
    return a


# ---- secrets -------------------------------------------------------------------

def secrets_all():
    publish(1)
    token, _ = new_token()
    a = enrolled(token, hostname="vault-test")
    rnd = lambda: int.from_bytes(os.urandom(2), "big")  # noqa: E731
    secrets = [os.urandom(32), "-".join("%06d" % (11 * rnd()) for _ in range(8)).encode()]
    r, env = a.escrow("C:", secrets[1], key_type="bitlocker", key_id="{11111111-2222}")
    expect(r, 201, what="escrow text secret")
    r, env0 = a.escrow("luks-root", secrets[0])
    expect(r, 201, what="escrow binary secret")
    a.checkin([{"volume_id": "luks-root", "record_id": r.json["record_id"],
                "verifier": b64u(verifier(secrets[0], a.device, "luks-root")),
                "unlock_check": "ok"}])
    request(URL, "GET", "/v1/devices?q=vault", headers=auth("helpdesk"))
    request(URL, "GET", "/v1/devices/" + a.device, headers=auth("auditor"))
    acts = set(e["action"] for e in audit_events())
    want = {"escrow_key.publish", "enroll_token.create", "device.enroll", "escrow.store",
            "device.checkin", "device.search", "device.read"}
    check(want <= acts, "audited actions: missing %r" % (want - acts))
    # The stored envelope opens offline with the custodians' shares.
    env_hex = sql("SELECT encode(envelope, 'hex') FROM escrow_records WHERE device_id = '%s'"
                  " AND volume_id = 'C:'" % a.device)
    check(bytes.fromhex(env_hex) == env, "the stored envelope is the one sent")
    d = os.path.join(WORK, "open")
    os.makedirs(os.path.join(d, "private"), exist_ok=True)
    open(os.path.join(d, "env.b64"), "w").write(b64u(env) + "\n")
    k1 = os.path.join(WORK, "k1")
    ctl = E["KE_ESCROWCTL"]
    m = os.path.join(k1, "keys", "escrow-key.json")

    def run(*args):
        p = subprocess.run([ctl] + list(args), capture_output=True, cwd=d)
        if p.returncode != 0:
            fail("escrowctl %s: %s" % (args[0], p.stderr.decode()))
        return p.stdout
    run("request", "new", "--manifest", m, "--envelope", "env.b64", "--device", a.device,
        "--volume", "C:", "--id", "req-dev-1", "--out", "req.json", "--key-out",
        "private/req.key")
    for i in (1, 3):
        run("part", "--request", "req.json", "--manifest", m, "--share",
            os.path.join(k1, "keys", "custodian-%d.share.json" % i), "--passphrase-file",
            os.path.join(k1, "private", "pass%d" % i), "--out", "part-%d.json" % i, "--yes")
    out = run("open", "--request", "req.json", "--key", "private/req.key", "--manifest", m,
              "part-1.json", "part-3.json")
    check(out.strip() == secrets[1], "the escrowed envelope opened offline to the secret")
    ok("every action audited; a stored envelope opens with 2 of 3 custodians offline")
    # No secret, no enrolment token in the database or the server log.
    dump = subprocess.run(["pg_dump", E["KE_DEV_OWNER_DSN"]], capture_output=True)
    check(dump.returncode == 0 and b"escrow_records" in dump.stdout, "pg_dump")
    log = open(E["KE_DEV_LOG"], "rb").read()
    pats = [token.encode()]
    for s in secrets:
        pats += [s, s.hex().encode(), b64u(s).encode(), base64.b64encode(s)]
    pats.append(b64u(a.priv.private_bytes(serialization.Encoding.Raw,
                                          serialization.PrivateFormat.Raw,
                                          serialization.NoEncryption())).encode())
    for p in pats:
        check(p not in dump.stdout and p not in log, "secret material in pg_dump or the log")
    check(len(dump.stdout) > 10000 and len(log) > 1000, "the haystacks are not empty")
    ok("pg_dump and the server log contain no secret, device key or enrolment token")


# ---- the contract's loose ends (issue 12, docs/agent-protocol.md) --------------

def core_paths(a):
    """Section 2: the signature covers the path after percent-decoding; a
    segment that decodes to no valid volume is 400 whoever signed it."""
    base = "/v1/devices/%s/keys/" % a.device
    body, env = a.escrow_body("E:", os.urandom(32))
    raw = json.dumps(body).encode()

    def put(sent, signed):
        return request(URL, "PUT", base + sent, raw,
                       sign_headers(a.priv, a.device, "PUT", base + signed, raw))

    n = counts()
    expect(put("E%3A", "E%3A"), 401, "bad_signature", "escaped path signed as escaped")
    for sent, signed in (("%C3%A9", "%C3%A9"), ("%C3%A9", "\u00e9"), ("a%20b", "a%20b"),
                         ("a%20b", "a b"), ("a%00b", "a%00b"), ("%FF", "%FF")):
        expect(put(sent, signed), 400, "bad_request",
               "volume %r signed as %r" % (sent, signed))
    check(counts().split("|")[:3] == n.split("|")[:3], "refused paths stored nothing")
    r = put("E%3A", "E:")
    expect(r, 201, what="escaped path signed in its decoded form")
    check(sql("SELECT volume_id FROM escrow_records WHERE id = '%s'" % r.json["record_id"])
          == "E:", "stored under the decoded volume id")
    verify_receipt(r.json, a, "E:", env, log_vkey())
    ok("paths: signed decoded; escaped-signed 401; undecodable or non-ASCII volume 400")


def core_headers(a):
    """Section 2: every malformed X-KE-Timestamp or X-KE-Nonce is 401
    bad_signature (checked before the signature, changes nothing)."""
    path = "/v1/devices/%s/checkin" % a.device
    body = json.dumps({"agent_version": "1", "volumes": []}).encode()
    n = counts()
    for ts in ("", "12a", "-5", "+5", "0123", " 5", "1.5", "1" * 20, "0x10"):
        h = sign_headers(a.priv, a.device, "POST", path, body)
        h["X-KE-Timestamp"] = ts
        expect(request(URL, "POST", path, body, h), 401, "bad_signature", "timestamp %r" % ts)
    good = b64u(os.urandom(16))
    for nonce in ("", good[:21], good + "A", good[:21] + "=", good[:21] + "+",
                  base64.b64encode(os.urandom(16)).decode(), good[:20] + "~A"):
        h = sign_headers(a.priv, a.device, "POST", path, body, nonce=nonce or None)
        h["X-KE-Nonce"] = nonce
        expect(request(URL, "POST", path, body, h), 401, "bad_signature", "nonce %r" % nonce)
    check(counts() == n, "malformed headers changed nothing")
    ok("headers: malformed timestamps and nonces are 401 bad_signature")


def core_retry_receipt_details(a):
    """Section 4: a lost answer is retried re-signed (the same bytes are a
    409 replay) and gets the original answer; the receipt time is the
    record's time truncated to the second; the escrow.store details."""
    path = "/v1/devices/%s/keys/R1" % a.device
    body, env = a.escrow_body("R1", os.urandom(32), key_type="other", key_id="r1-key")
    raw = json.dumps(body).encode()
    h = sign_headers(a.priv, a.device, "PUT", path, raw)
    first = request(URL, "PUT", path, raw, h)
    expect(first, 201, what="escrow (its answer is lost)")
    n = counts()
    expect(request(URL, "PUT", path, raw, h), 409, "replayed_request", "the same bytes again")
    again = a.call("PUT", path, raw=raw)
    expect(again, 200, what="the retry, re-signed")
    check(again.json == first.json, "the retry gets the original answer")
    check(counts().split("|")[:2] == n.split("|")[:2] and
          counts().split("|")[3] == n.split("|")[3], "a retry stores and audits nothing")
    rid = first.json["record_id"]
    text = note_verify.open_note(first.json["receipt"].encode(), log_vkey())
    check(text.split("\n")[6] == sql(
        "SELECT to_char(date_trunc('second', created) AT TIME ZONE 'UTC',"
        " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM escrow_records WHERE id = '%s'" % rid),
        "receipt time = record time truncated")
    # A time past the half second would round up: it is truncated.
    sql("ALTER TABLE escrow_records DISABLE TRIGGER escrow_records_immutable;"
        " UPDATE escrow_records SET created = '2026-01-02 03:04:05.999+00' WHERE id = '%s';"
        " ALTER TABLE escrow_records ENABLE TRIGGER escrow_records_immutable" % rid, owner=True)
    r = a.call("PUT", path, raw=raw)
    expect(r, 200, what="re-upload after the time edit")
    text = note_verify.open_note(r.json["receipt"].encode(), log_vkey())
    check(text.split("\n")[6] == "2026-01-02T03:04:05Z", "truncated, not rounded: %r" % text)
    leaf = leaf_at(first.json["leaf_index"])
    d = leaf["details"]
    check(set(d) == {"device", "volume", "key_type", "key_id", "envelope_sha256",
                     "escrow_fingerprint", "escrow_key_state", "superseded"} and
          d["superseded"] is None and d["device"] == a.device and
          d["volume"] == "R1" and d["key_type"] == "other" and d["key_id"] == "r1-key" and
          d["envelope_sha256"] == hashlib.sha256(env).hexdigest() and
          d["escrow_fingerprint"] == a.enrollment["escrow_fingerprint"] and
          d["escrow_key_state"] == "current", "escrow.store details %r" % d)
    r2, env2 = a.escrow("R1", os.urandom(32))
    expect(r2, 201, what="a new envelope for R1")
    d = leaf_at(r2.json["leaf_index"])["details"]
    check(d.get("superseded") == rid and len(d) == 8, "superseded named: %r" % d)
    # Check-in naming a record that is not current, or a volume with none.
    r = a.checkin([{"volume_id": "R1", "record_id": rid, "unlock_check": "unsupported"},
                   {"volume_id": "NONE", "record_id": rid, "unlock_check": "unsupported"}])
    expect(r, 200, what="check-in with a superseded record")
    check(r.json["volumes"] == [{"volume_id": "R1", "verifier_match": False},
                                {"volume_id": "NONE", "verifier_match": False}] and
          all(x["volume_id"] != "NONE" for x in r.json["rotate"]),
          "not current / no record -> false (re-escrow), even without verifier: %r" % r.json)
    r = a.checkin([{"volume_id": "R1", "record_id": r2.json["record_id"],
                    "unlock_check": "unsupported"}])
    check(r.status == 200 and r.json["volumes"] == [{"volume_id": "R1", "verifier_match": None}],
          "the current record without verifier -> null: %r" % r)
    check(sql("SELECT last_unlock_check IS NULL FROM escrow_records WHERE id = '%s'" % rid)
          == "t", "nothing recorded on a superseded record")
    ok("retry re-signed gets the original answer; receipt time truncated; escrow.store"
       " details; check-in of a non-current record")


def main():
    sec = sys.argv[1]
    if sec == "core":
        core_keys_and_tokens()
        a = core_enrolment()
        core_escrow(a)
        core_signatures(a)
        core_validation(a)
        core_paths(a)
        core_headers(a)
        core_retry_receipt_details(a)
    elif sec == "checkin":
        admin_actions(reads(checkin_all()))
    elif sec == "secrets":
        secrets_all()
    else:
        fail("unknown section " + sec)
    ok("%s: %d checks" % (sec, CHECKS))


if __name__ == "__main__":
    main()
