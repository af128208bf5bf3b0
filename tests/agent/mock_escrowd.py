#!/usr/bin/env python3
"""mock_escrowd.py - an independent implementation of the server side of
docs/agent-protocol.md, for testing escrow-agent without PostgreSQL.

It is written from the protocol text, not from the agent's code, so it also
checks the agent's wire format: request signatures (section 2), enrolment
(3), the escrow PUT with its envelope signature and idempotency (4), signed
receipts (C2SP signed notes, audit.md), the audit log's checkpoints and
proofs (RFC 6962 over the escrow events), and check-in (5).  A JSON control
file injects faults for the retry and verification tests:

  {"fail_put": N}      answer the next N PUTs with 503 (before storing)
  {"drop_put": N}      store the next N PUTs, then drop the connection
  {"refuse_put": N}    answer the next N PUTs with 400
  {"bad_receipt": "sig" | "line"}   sign receipts with another key / wrong leaf
  {"bad_event": true}  answer an escrow event that names another volume
  {"fork_log": true}   serve checkpoints and proofs of a log whose first leaf
                       was rewritten (a fork: validly signed, inconsistent)
  {"rollback_log": N}  serve the log as it was at N leaves
  {"rotate": [{"volume_id": V, "reason": R}]}   ask for rotations (cleared
                       once the volume has a new record)
  {"manifest": PATH}   switch the current escrow key (announced at check-in)

Every change is written to STATE/records.json; envelopes stay base64url.
"""
import argparse
import base64
import hashlib
import json
import os
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey, Ed25519PublicKey)
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

SKEW = 300


def b64u_dec(s):
    if not isinstance(s, str) or "=" in s:
        raise ValueError("bad base64url")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


class NoteKey:
    """An Ed25519 signed-note key (c2sp.org/signed-note)."""

    def __init__(self, name):
        self.name = name
        self.sk = Ed25519PrivateKey.generate()
        self.pub = self.sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        h = hashlib.sha256(name.encode() + b"\n\x01" + self.pub).digest()
        self.keyid = h[:4]

    def vkey(self):
        return "%s+%s+%s" % (self.name, self.keyid.hex(),
                             base64.b64encode(b"\x01" + self.pub).decode())

    def sign(self, text):
        sig = self.sk.sign(text.encode())
        line = "\u2014 %s %s\n" % (self.name, base64.b64encode(self.keyid + sig).decode())
        return text + "\n" + line


def _split(n):
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def mth(leaves):
    """RFC 6962 Merkle tree hash of the leaf byte strings."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = _split(len(leaves))
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def inclusion(m, leaves):
    if len(leaves) <= 1:
        return []
    k = _split(len(leaves))
    if m < k:
        return inclusion(m, leaves[:k]) + [mth(leaves[k:])]
    return inclusion(m - k, leaves[k:]) + [mth(leaves[:k])]


def consistency(m, leaves, whole=True):
    n = len(leaves)
    if m == n:
        return [] if whole else [mth(leaves)]
    k = _split(n)
    if m <= k:
        return consistency(m, leaves[:k], whole) + [mth(leaves[k:])]
    return consistency(m - k, leaves[k:], False) + [mth(leaves[:k])]


def manifest_fpr(path):
    with open(path) as f:
        m = json.load(f)
    return m, m["fingerprint"]


class State:
    def __init__(self, args):
        self.lock = threading.Lock()
        self.args = args
        self.key = NoteKey(args.origin)
        self.other = NoteKey(args.origin)  # for bad_receipt=sig
        self.manifest, self.fpr = manifest_fpr(args.manifest)
        self.accepted = {self.fpr}
        self.devices = {}
        self.records = []
        self.checkins = []
        self.nonces = {}
        self.leaf = 0
        self.leaves = []   # the escrow events, in log order
        self.requests = []

    def control(self):
        try:
            with open(self.args.control) as f:
                return json.load(f)
        except FileNotFoundError:
            return {}

    def consume(self, name):
        """Decrement counter `name` of the control file; True if it was > 0."""
        c = self.control()
        if c.get(name, 0) > 0:
            c[name] -= 1
            with open(self.args.control + ".tmp", "w") as f:
                json.dump(c, f)
            os.replace(self.args.control + ".tmp", self.args.control)
            return True
        return False

    def dump(self):
        path = os.path.join(self.args.state, "records.json")
        with open(path + ".tmp", "w") as f:
            json.dump({"devices": self.devices, "records": self.records,
                       "checkins": self.checkins, "requests": self.requests,
                       "log_key": self.key.vkey(), "fingerprint": self.fpr}, f, indent=1)
        os.replace(path + ".tmp", path)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *a):
        sys.stderr.write("mock: " + fmt % a + "\n")

    def reply(self, status, obj):
        body = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, code, msg):
        self.reply(status, {"error": {"code": code, "message": msg}})

    def verify(self, body, pub):
        """Section 2.  Returns an error tuple or None."""
        h = self.headers
        ts, nonce, sig = h.get("X-KE-Timestamp"), h.get("X-KE-Nonce"), h.get("X-KE-Signature")
        if not (ts and nonce and sig):
            return (401, "bad_signature", "missing signature headers")
        try:
            sigb = b64u_dec(sig)
            if len(b64u_dec(nonce)) != 16 or len(sigb) != 64:
                raise ValueError
        except ValueError:
            return (401, "bad_signature", "malformed nonce or signature")
        msg = "keyescrow-v1-request\n%s\n%s\n%s\n%s\n%s\n" % (
            self.command, self.path, ts, nonce, hashlib.sha256(body).hexdigest())
        try:
            Ed25519PublicKey.from_public_bytes(pub).verify(sigb, msg.encode())
        except (InvalidSignature, ValueError):
            return (401, "bad_signature", "signature does not verify")
        if not ts.isdigit() or abs(int(ts) - time.time()) > SKEW:
            return (401, "stale_request", "timestamp outside the allowed skew")
        dev = h.get("X-KE-Device")
        with ST.lock:
            if (dev, nonce) in ST.nonces:
                return (409, "replayed_request", "nonce already used")
            ST.nonces[(dev, nonce)] = time.time()
        return None

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        from urllib.parse import urlsplit, parse_qs
        u = urlsplit(self.path)
        q = {k: v[0] for k, v in parse_qs(u.query).items()}
        with ST.lock:
            leaves = list(ST.leaves)
        c = ST.control()
        if c.get("fork_log") and leaves:
            leaves[0] = b'{"action":"forked"}'
        if "rollback_log" in c:
            leaves = leaves[:c["rollback_log"]]
        b64 = lambda h: base64.b64encode(h).decode()
        try:
            if u.path == "/v1/audit/checkpoint":
                text = "%s\n%d\n%s\n" % (ST.key.name, len(leaves), b64(mth(leaves)))
                return self.reply(200, {"checkpoint": ST.key.sign(text),
                                        "tree_size": len(leaves)})
            if u.path == "/v1/audit/proof/inclusion":
                i, n = int(q["index"]), int(q["size"])
                assert 0 <= i < n <= len(leaves)
                return self.reply(200, {"inclusion_path":
                                        [b64(h) for h in inclusion(i, leaves[:n])]})
            if u.path == "/v1/audit/proof/consistency":
                m, n = int(q["from"]), int(q["to"])
                assert 0 < m <= n <= len(leaves)
                return self.reply(200, {"consistency_path":
                                        [b64(h) for h in consistency(m, leaves[:n])]})
        except (KeyError, ValueError, AssertionError):
            return self.error(400, "bad_request", "bad proof query")
        self.error(404, "not_found", "no such route")

    def do_POST(self):
        try:
            self.post()
        finally:
            with ST.lock:
                ST.dump()

    def do_PUT(self):
        try:
            self.put()
        finally:
            with ST.lock:
                ST.dump()

    def post(self):
        raw = self.body()
        ST.requests.append({"method": "POST", "path": self.path})
        if self.path == "/v1/enroll":
            return self.enroll(raw)
        parts = self.path.split("/")
        if len(parts) == 5 and parts[1:3] == ["v1", "devices"] and parts[4] == "checkin":
            return self.checkin(parts[3], raw)
        self.error(404, "not_found", "no such route")

    def put(self):
        raw = self.body()
        ST.requests.append({"method": "PUT", "path": self.path})
        parts = self.path.split("/")
        if len(parts) == 6 and parts[1:3] == ["v1", "devices"] and parts[4] == "keys":
            return self.put_key(parts[3], parts[5], raw)
        self.error(404, "not_found", "no such route")

    def device_auth(self, dev_id, raw):
        dev = ST.devices.get(self.headers.get("X-KE-Device", ""))
        if not dev:
            self.error(401, "bad_signature", "unknown device")
            return None
        err = self.verify(raw, bytes.fromhex(dev["key"]))
        if err:
            self.error(*err)
            return None
        if self.headers.get("X-KE-Device") != dev_id:
            self.error(403, "forbidden", "a device may only use its own routes")
            return None
        return dev

    def enroll(self, raw):
        try:
            req = json.loads(raw)
            pub = b64u_dec(req["device_key"])
        except (ValueError, KeyError):
            return self.error(400, "bad_request", "malformed enrolment")
        if self.headers.get("X-KE-Device") != "new":
            return self.error(401, "bad_signature", "enrolment is signed as device new")
        err = self.verify(raw, pub)
        if err:
            return self.error(*err)
        if req.get("token") != ST.args.token:
            return self.error(401, "bad_token", "unknown or used enrolment token")
        dev_id = "dev-" + base64.b32encode(secrets.token_bytes(20)).decode().lower()[:26]
        with ST.lock:
            ST.devices[dev_id] = {"key": pub.hex(), "hostname": req.get("hostname"),
                                  "serial": req.get("serial"), "os": req.get("os"),
                                  "hardware": req.get("hardware")}
            ST.dump()
        self.reply(201, {"device_id": dev_id, "escrow_key": ST.manifest,
                         "escrow_fingerprint": ST.fpr, "log_key": ST.key.vkey(),
                         "log_origin": ST.key.name, "checkin_interval": 86400})

    def put_key(self, dev_id, vol, raw):
        if not self.device_auth(dev_id, raw):
            return
        if ST.consume("fail_put"):
            return self.error(503, "db_unavailable", "injected failure")
        if ST.consume("refuse_put"):
            return self.error(400, "bad_request", "injected refusal")
        try:
            req = json.loads(raw)
            env = b64u_dec(req["envelope"])
            ver = b64u_dec(req["verifier"])
            sig = b64u_dec(req["signature"])
            kt, kid = req["key_type"], req["key_id"]
            assert set(req) == {"envelope", "verifier", "signature", "key_type", "key_id"}
            # v1 (HMAC, 32 bytes) or v2 ("KV" 02, scrypt N >= 2^17, 54 bytes)
            assert len(ver) == 32 or (len(ver) == 54 and ver[:3] == b"KV\x02" and ver[3] >= 17)
            assert kt in ("bitlocker", "filevault", "luks", "other")
        except (ValueError, KeyError, AssertionError):
            return self.error(400, "bad_request", "malformed escrow")
        if len(env) < 80 + 16 + 16 or env[:3] != b"KE\x01":
            return self.error(400, "bad_envelope", "not an envelope")
        if env[3:35].hex() not in ST.accepted:
            return self.error(400, "unknown_escrow_key", "envelope sealed to another key")
        pub = bytes.fromhex(ST.devices[dev_id]["key"])
        try:
            Ed25519PublicKey.from_public_bytes(pub).verify(
                sig, env + dev_id.encode() + b"\x00" + vol.encode())
        except InvalidSignature:
            return self.error(400, "bad_signature", "envelope signature does not verify")
        sha = hashlib.sha256(env).hexdigest()
        with ST.lock:
            same = [r for r in ST.records
                    if r["device"] == dev_id and r["volume"] == vol and r["sha256"] == sha]
            if same:
                rec, status = same[0], 200
            else:
                for r in ST.records:
                    if r["device"] == dev_id and r["volume"] == vol and r["state"] == "active":
                        r["state"] = "superseded"
                rec = {"record_id": "rec-%d" % (len(ST.records) + 1), "device": dev_id,
                       "volume": vol, "sha256": sha, "envelope": req["envelope"],
                       "verifier": req["verifier"], "key_type": kt, "key_id": kid,
                       "state": "active", "leaf": ST.leaf,
                       "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
                ST.leaf += 1
                rec["event"] = json.dumps({
                    "action": "escrow.store", "object": "record:" + rec["record_id"],
                    "details": {"device": dev_id, "volume": vol, "envelope_sha256": sha}})
                ST.leaves.append(rec["event"].encode())
                ST.records.append(rec)
                c = ST.control()
                if "rotate" in c:
                    c["rotate"] = [x for x in c["rotate"] if x["volume_id"] != vol]
                    with open(ST.args.control, "w") as f:
                        json.dump(c, f)
                status = 201
            ST.dump()
        bad = ST.control().get("bad_receipt")
        leaf = rec["leaf"] + (1 if bad == "line" else 0)
        text = "keyescrow-v1-receipt\n%s\n%s\n%s\n%s\n%d\n%s\n" % (
            dev_id, vol, rec["record_id"], sha, leaf, rec["time"])
        note = (ST.other if bad == "sig" else ST.key).sign(text)
        if ST.consume("drop_put"):
            self.close_connection = True
            self.connection.shutdown(2)
            return
        event = rec["event"]
        if ST.control().get("bad_event"):
            ev = json.loads(event)
            ev["details"]["volume"] = "another-volume"
            event = json.dumps(ev)
        self.reply(status, {"record_id": rec["record_id"], "state": rec["state"],
                            "leaf_index": rec["leaf"], "receipt": note,
                            "escrow_event": event})

    def checkin(self, dev_id, raw):
        if not self.device_auth(dev_id, raw):
            return
        try:
            req = json.loads(raw)
            vols = req["volumes"]
        except (ValueError, KeyError):
            return self.error(400, "bad_request", "malformed check-in")
        c = ST.control()
        if c.get("manifest"):
            ST.manifest, ST.fpr = manifest_fpr(c["manifest"])
            ST.accepted.add(ST.fpr)
        out, sealed_to_old = [], False
        with ST.lock:
            for v in vols:
                recs = [r for r in ST.records if r["device"] == dev_id and
                        r["volume"] == v["volume_id"] and r["state"] == "active"]
                match = None
                if recs and "verifier" in v:
                    match = recs[0]["verifier"] == v["verifier"]
                if recs and b64u_dec(recs[0]["envelope"])[3:35].hex() != ST.fpr:
                    sealed_to_old = True
                out.append({"volume_id": v["volume_id"], "verifier_match": match})
            ST.checkins.append({"device": dev_id, "body": req})
            ST.dump()
        ans = {"escrow_fingerprint": ST.fpr, "volumes": out,
               "rotate": c.get("rotate", []), "checkin_interval": 86400}
        if sealed_to_old:
            ans["escrow_key"] = ST.manifest
        self.reply(200, ans)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--token", required=True)
    ap.add_argument("--state", required=True)
    ap.add_argument("--control", required=True)
    ap.add_argument("--origin", default="escrow.test/audit")
    ap.add_argument("--port-file", required=True)
    args = ap.parse_args()
    global ST
    ST = State(args)
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    ST.dump()
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.replace(args.port_file + ".tmp", args.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    main()
