"""device_agent.py - an independent Python implementation of the agent side
of docs/agent-protocol.md (signed requests, enrolment, envelopes, verifiers,
receipts), for the escrowd device API tests.  It shares no code with
escrow-agent or libescrow: where the two agree, the protocol document is
what they agree on.
"""
import base64
import hashlib
import hmac
import json
import os
import sys
import time
import urllib.error
import urllib.request

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def b64u(b):
    return base64.urlsafe_b64encode(b).decode().rstrip("=")


def unb64u(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def ed_pub(priv):
    return priv.public_key().public_bytes(serialization.Encoding.Raw,
                                          serialization.PublicFormat.Raw)


class Response:
    def __init__(self, status, body, headers):
        self.status = status
        self.raw = body
        self.headers = headers
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def error_code(self):
        if isinstance(self.json, dict) and isinstance(self.json.get("error"), dict):
            return self.json["error"].get("code")
        return None

    def __repr__(self):
        return "HTTP %d %s" % (self.status, self.raw[:400])


def request(base, method, path, body=None, headers=None, timeout=30):
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    req = urllib.request.Request(base + path, data=data, method=method)
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    if data is not None and "Content-Type" not in (headers or {}):
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            resp = Response(r.status, r.read(), dict(r.headers))
    except urllib.error.HTTPError as e:
        resp = Response(e.code, e.read(), dict(e.headers))
    record(method, base + path, resp)
    return resp


def record(method, url, resp):
    """Append the answer as one JSON line to a file of this process under
    $KE_API_RECORD, for the check of docs/api.yaml against what the server
    really sent (tests/api/check_responses.mjs; tests/server/lib.sh
    api_record is the shell side).  One write(2) per line (O_APPEND), so
    threads of one test do not interleave."""
    d = os.environ.get("KE_API_RECORD")
    if not d or not os.path.isdir(d):
        return
    ct = next((v for k, v in resp.headers.items() if k.lower() == "content-type"), "")
    name = os.path.splitext(os.path.basename(sys.argv[0]))[0] or "python"
    line = json.dumps({"test": name, "method": method, "url": url, "status": resp.status,
                       "content_type": ct,
                       "body_b64": base64.b64encode(resp.raw or b"").decode()}) + "\n"
    fd = os.open(os.path.join(d, "%s.%d.jsonl" % (name, os.getpid())),
                 os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)


def sign_headers(priv, device, method, path, body, ts=None, nonce=None):
    """The four X-KE-* headers of a signed request (section 2)."""
    ts = str(int(time.time()) if ts is None else ts)
    nonce = nonce or b64u(os.urandom(16))
    msg = "keyescrow-v1-request\n%s\n%s\n%s\n%s\n%s\n" % (
        method, path, ts, nonce, hashlib.sha256(body or b"").hexdigest())
    return {"X-KE-Device": device, "X-KE-Timestamp": ts, "X-KE-Nonce": nonce,
            "X-KE-Signature": b64u(priv.sign(msg.encode()))}


# ---- envelopes (docs/protocol.md) ------------------------------------------

def manifest_q(manifest):
    """Q (= C_0) of a manifest as a public key, and the fingerprint bytes,
    recomputed from t, N and the commitments as the agent must."""
    t, n = manifest["threshold"], manifest["shares"]
    comms = [unb64u(c) for c in manifest["commitments"]]
    fpr = hashlib.sha256(b"keyescrow-v1-escrow-key" + bytes([t, n]) + b"".join(comms)).digest()
    q = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), comms[0])
    return q, comms[0], fpr


def seal(manifest, device, volume, secret):
    q, q_bytes, fpr = manifest_q(manifest)
    k = ec.generate_private_key(ec.SECP256R1())
    r_bytes = k.public_key().public_bytes(serialization.Encoding.X962,
                                          serialization.PublicFormat.CompressedPoint)
    x = k.exchange(ec.ECDH(), q)
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=r_bytes + q_bytes,
               info=b"keyescrow-v1-wrap").derive(x)
    nonce = os.urandom(12)
    header = b"KE\x01" + fpr + r_bytes + nonce
    aad = header + device.encode() + b"\x00" + volume.encode()
    return header + AESGCM(key).encrypt(nonce, secret, aad)


def verifier(secret, device, volume):
    return hmac.new(secret, b"keyescrow-v1-verifier" + device.encode() + b"\x00" +
                    volume.encode(), hashlib.sha256).digest()


def verifier_v2(secret, device, volume, salt=None, log2n=17, r=8, p=1):
    """The scrypt verifier of docs/protocol.md: "KV" 02 | log2n | r | p |
    salt | scrypt(secret, label | salt | device | 00 | volume)."""
    salt = os.urandom(16) if salt is None else salt
    s = b"keyescrow-v1-scrypt-verifier" + salt + device.encode() + b"\x00" + volume.encode()
    v = hashlib.scrypt(secret, salt=s, n=1 << log2n, r=r, p=p, dklen=32, maxmem=2**31 - 1)
    return b"KV\x02" + bytes([log2n, r, p]) + salt + v


class Agent:
    """One enrolled (or about to be) device."""

    def __init__(self, base, priv=None):
        self.base = base
        self.priv = priv or ed25519.Ed25519PrivateKey.generate()
        self.device = None
        self.enrollment = None

    def enroll(self, token, hostname="laptop-17", serial="C02XYZ", os_name="debian 12",
               hardware=None, **kw):
        body = json.dumps({"token": token, "device_key": b64u(ed_pub(self.priv)),
                           "hostname": hostname, "serial": serial, "os": os_name,
                           "hardware": hardware if hardware is not None else
                           {"model": "T14", "vendor": "Lenovo"}}).encode()
        h = sign_headers(self.priv, "new", "POST", "/v1/enroll", body, **kw)
        r = request(self.base, "POST", "/v1/enroll", body, h)
        if r.status in (200, 201):
            self.device = r.json["device_id"]
            self.enrollment = r.json
        return r

    def call(self, method, path, body_obj=None, raw=None, device=None, **kw):
        body = raw if raw is not None else (
            json.dumps(body_obj).encode() if body_obj is not None else b"")
        h = sign_headers(self.priv, device or self.device, method, path, body, **kw)
        return request(self.base, method, path, body if body or method != "GET" else None, h)

    def escrow_body(self, volume, secret, manifest=None, key_type="luks", key_id=None,
                    device=None):
        device = device or self.device
        env = seal(manifest or self.enrollment["escrow_key"], device, volume, secret)
        sig = self.priv.sign(env + device.encode() + b"\x00" + volume.encode())
        return {"envelope": b64u(env), "verifier": b64u(verifier(secret, device, volume)),
                "signature": b64u(sig), "key_type": key_type,
                "key_id": key_id or "luks:%s:slot1" % volume}, env

    def escrow(self, volume, secret, **kw):
        body, env = self.escrow_body(volume, secret, **kw)
        return self.call("PUT", "/v1/devices/%s/keys/%s" % (self.device, volume), body), env

    def checkin(self, volumes, **extra):
        body = {"agent_version": "0.1.0-test", "volumes": volumes}
        body.update(extra)
        return self.call("POST", "/v1/devices/%s/checkin" % self.device, body)

    def checkin_raw(self, body_obj):
        return self.call("POST", "/v1/devices/%s/checkin" % self.device, body_obj)
