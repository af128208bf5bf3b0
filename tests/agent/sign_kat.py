#!/usr/bin/env python3
"""sign_kat.py TESTTOOL - the agent's request and envelope signatures checked
against an independent implementation (python3-cryptography, with the
message built here from docs/agent-protocol.md section 2 and 4).  Ed25519 is
deterministic, so the signatures must be equal byte for byte."""
import base64
import hashlib
import json
import subprocess
import sys

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


out = json.loads(subprocess.run([sys.argv[1], "kat"], check=True, capture_output=True).stdout)
sk = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(out["seed"]))
pub = sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
assert out["public"] == b64u(pub), "public key"
nonce = bytes(range(0xA0, 0xB0))
for name, body in (("request", out["request"].get("body", "").encode()), ("empty", b"")):
    r = out[name]
    assert r["nonce"] == b64u(nonce), name + " nonce"
    msg = "keyescrow-v1-request\n%s\n%s\n%s\n%s\n%s\n" % (
        r["method"], r["target"], r["timestamp"], r["nonce"], hashlib.sha256(body).hexdigest())
    want = b64u(sk.sign(msg.encode()))
    assert r["signature"] == want, "%s signature: %s != %s" % (name, r["signature"], want)
assert out["request"]["timestamp"] == "1714557072"
e = out["envelope"]
msg = bytes.fromhex(e["bytes"]) + e["device"].encode() + b"\x00" + e["volume"].encode()
assert e["signature"] == b64u(sk.sign(msg)), "envelope signature"
print("sign_kat: request, empty-body and envelope signatures match")
