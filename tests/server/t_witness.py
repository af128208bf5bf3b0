#!/usr/bin/env python3
"""t_witness.py - a c2sp.org/tlog-cosignature witness for the tests, written
from the spec (not from lib/ke_cosig.c), with python3-cryptography.

  t_witness.py new NAME KEYFILE       make a witness key; prints its vkey
  t_witness.py cosign KEYFILE < NOTE  prints NOTE with this witness's line
  t_witness.py forge KEYFILE < NOTE   the same line shape, a wrong signature
"""
import base64
import hashlib
import sys
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import (
    Encoding, NoEncryption, PrivateFormat, PublicFormat)


def load(path):
    name, seed = open(path).read().split()
    sk = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(seed))
    pub = sk.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    keyid = hashlib.sha256(name.encode() + b"\n\x04" + pub).digest()[:4]
    return name, sk, pub, keyid


def main():
    cmd = sys.argv[1]
    if cmd == "new":
        name, path = sys.argv[2], sys.argv[3]
        seed = Ed25519PrivateKey.generate().private_bytes(
            Encoding.Raw, PrivateFormat.Raw, NoEncryption())
        with open(path, "w") as f:
            f.write("%s %s\n" % (name, seed.hex()))
        name, sk, pub, keyid = load(path)
        print("%s+%s+%s" % (name, keyid.hex(), base64.b64encode(b"\x04" + pub).decode()))
        return
    name, sk, pub, keyid = load(sys.argv[2])
    note = sys.stdin.read()
    body = note[:note.rindex("\n\n") + 1]
    ts = int(time.time())
    msg = ("cosignature/v1\ntime %d\n" % ts + body).encode()
    sig = sk.sign(msg)
    if cmd == "forge":
        sig = bytes([sig[0] ^ 1]) + sig[1:]
    line = "\u2014 %s %s\n" % (name, base64.b64encode(keyid + ts.to_bytes(8, "big") + sig).decode())
    sys.stdout.write(note + line)


if __name__ == "__main__":
    main()
