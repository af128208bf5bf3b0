#!/usr/bin/env python3
"""Independent verifier of keyescrow audit checkpoints (C2SP signed notes).

Written from the specifications only (c2sp.org/signed-note,
c2sp.org/tlog-checkpoint), sharing no code with lib/ke_note.c: Ed25519 comes
from the Python `cryptography` package (Debian: python3-cryptography).

  note_verify.py verify-checkpoint --vkey VKEY FILE   print origin, size, root
  note_verify.py verify-note --vkey VKEY FILE         print the signed text
  note_verify.py selftest --tool audit_note_tool [--doc docs/audit.md]

VKEY is the log's verifier key, "name+hexkeyid+base64(0x01||pubkey)", as the
server publishes it.  Exit status 0 when the note verifies, 1 otherwise.

The selftest checks, against the C library through its test tool, that
checkpoints and statements signed in C verify here, that notes signed here
verify in C, that both produce the same bytes from the same key, and that
tampering is caught on both sides.
"""

import argparse
import base64
import binascii
import hashlib
import json
import os
import re
import subprocess
import sys

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

EM_DASH_PREFIX = "\u2014 "
ED25519 = 0x01
MAX_SIGS = 100


class VerifyError(Exception):
    pass


def b64decode_strict(s):
    """Standard base64 with padding; refuses anything with a second spelling."""
    try:
        raw = base64.b64decode(s, validate=True)
    except (binascii.Error, ValueError) as e:
        raise VerifyError("bad base64") from e
    if base64.b64encode(raw).decode() != s:
        raise VerifyError("non-canonical base64")
    return raw


def key_id(name, pub):
    """SHA-256(name || 0x0A || 0x01 || pubkey)[:4], big endian."""
    h = hashlib.sha256(name.encode() + b"\n" + bytes([ED25519]) + pub).digest()
    return int.from_bytes(h[:4], "big")


def valid_name(name):
    return name != "" and "+" not in name and not any(c.isspace() for c in name)


def parse_vkey(vkey):
    name, sep, rest = vkey.partition("+")
    hexid, sep2, key64 = rest.partition("+")
    if not sep or not sep2 or len(hexid) != 8 or not valid_name(name):
        raise VerifyError("malformed verifier key")
    try:
        kid = int(hexid, 16)
    except ValueError as e:
        raise VerifyError("malformed key ID") from e
    key = b64decode_strict(key64)
    if len(key) != 33 or key[0] != ED25519:
        raise VerifyError("not an Ed25519 verifier key")
    if key_id(name, key[1:]) != kid:
        raise VerifyError("key ID does not match the key")
    return name, kid, key[1:]


def format_vkey(name, pub):
    return "%s+%08x+%s" % (name, key_id(name, pub),
                           base64.b64encode(bytes([ED25519]) + pub).decode())


def open_note(note, vkey):
    """Verify `note` (bytes) against `vkey`; return the signed text (str)."""
    name, kid, pub = parse_vkey(vkey)
    try:
        msg = note.decode("utf-8")
    except UnicodeDecodeError as e:
        raise VerifyError("not UTF-8") from e
    if any(ord(c) < 0x20 and c != "\n" for c in msg):
        raise VerifyError("control character")
    split = msg.rfind("\n\n")
    if split < 0:
        raise VerifyError("no blank line before the signatures")
    text, sigs = msg[:split + 1], msg[split + 2:]
    if not sigs or not sigs.endswith("\n"):
        raise VerifyError("signature block must end in a newline")
    lines = sigs[:-1].split("\n")
    if len(lines) > MAX_SIGS:
        raise VerifyError("too many signatures")
    verified = False
    for line in lines:
        if not line.startswith(EM_DASH_PREFIX):
            raise VerifyError("malformed signature line")
        sname, sp, b64 = line[len(EM_DASH_PREFIX):].partition(" ")
        if not sp or not valid_name(sname):
            raise VerifyError("malformed signature line")
        sig = b64decode_strict(b64)
        if len(sig) < 5:
            raise VerifyError("signature too short")
        if sname != name or int.from_bytes(sig[:4], "big") != kid:
            continue  # another key's signature: ignored
        if len(sig) != 68:
            raise VerifyError("bad Ed25519 signature length")
        try:
            Ed25519PublicKey.from_public_bytes(pub).verify(sig[4:], text.encode())
        except InvalidSignature as e:
            raise VerifyError("signature by the pinned key does not verify") from e
        verified = True
    if not verified:
        raise VerifyError("no signature by the pinned key")
    return text


def parse_checkpoint(text):
    lines = text.split("\n")
    if len(lines) != 4 or lines[3] != "":
        raise VerifyError("a checkpoint body has exactly three lines")
    origin, size, root64 = lines[:3]
    if not origin:
        raise VerifyError("empty origin")
    if not size.isascii() or not size.isdigit() or (size != "0" and size.startswith("0")):
        raise VerifyError("bad tree size")
    root = b64decode_strict(root64)
    if len(root) != 32:
        raise VerifyError("root hash is not 32 bytes")
    return origin, int(size), root


def verify_checkpoint(note, vkey):
    origin, size, root = parse_checkpoint(open_note(note, vkey))
    if origin != parse_vkey(vkey)[0]:
        raise VerifyError("origin is not the key name")
    return origin, size, root


def sign_note(text, name, seed):
    """Sign like the C library does (used by the selftest only)."""
    sk = Ed25519PrivateKey.from_private_bytes(seed)
    pub = sk.public_key().public_bytes(serialization.Encoding.Raw,
                                       serialization.PublicFormat.Raw)
    sig = key_id(name, pub).to_bytes(4, "big") + sk.sign(text.encode())
    return (text + "\n" + EM_DASH_PREFIX + name + " " +
            base64.b64encode(sig).decode() + "\n").encode(), format_vkey(name, pub)


# ---- selftest against the C library ------------------------------------------

GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_NOTE = ("If you think cryptography is the answer to your problem,\n"
           "then you don't know what your problem is.\n\n"
           "\u2014 PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUg"
           "YN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n").encode()


class SelfTest:
    def __init__(self, tool):
        self.tool = tool
        self.failures = 0
        self.checks = 0

    def check(self, cond, what):
        self.checks += 1
        if not cond:
            self.failures += 1
            print("FAIL: " + what, file=sys.stderr)

    def refuses(self, fn, what):
        try:
            fn()
        except VerifyError:
            self.check(True, what)
        else:
            self.check(False, what + " (accepted)")

    def c(self, *args, stdin=b""):
        p = subprocess.run([self.tool] + list(args), input=stdin,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
        return p.returncode, p.stdout

    def check_doc(self, path):
        """The example checkpoint in docs/audit.md verifies, in Python and in C."""
        with open(path, encoding="utf-8") as f:
            doc = f.read()
        m = re.search(r"```\n([^`]+?\n\n\u2014 [^`]+?\n)```", doc)
        k = re.search(r"verifier key: `([^`]+)`", doc)
        self.check(m is not None and k is not None, "example found in " + path)
        if not m or not k:
            return
        note = m.group(1).encode()
        try:
            self.check(verify_checkpoint(note, k.group(1))[1] >= 0, "documented example")
        except VerifyError as e:
            self.check(False, "documented example verifies in Python: %s" % e)
        rc, _ = self.c("open-checkpoint", k.group(1), stdin=note)
        self.check(rc == 0, "documented example verifies in C")

    def run(self):
        name = "escrow.example.org/audit"
        seed = os.urandom(32)
        root = os.urandom(32)
        size = 1 + int.from_bytes(os.urandom(4), "big")

        # The verifier itself, on the reference implementation's published note.
        self.check(open_note(GO_NOTE, GO_VKEY).startswith("If you think"), "Go example verifies")
        self.refuses(lambda: open_note(GO_NOTE.replace(b"problem,", b"problem;"), GO_VKEY),
                     "changed Go example")

        # C signs, Python verifies; C's verifier key is the one Python derives.
        rc, out = self.c("vkey", seed.hex(), name)
        _, vkey = sign_note("x\n", name, seed)
        self.check(rc == 0 and out.decode().strip() == vkey, "C verifier key == Python's")
        rc, note = self.c("sign-checkpoint", seed.hex(), name, str(size), root.hex())
        self.check(rc == 0, "C signs a checkpoint")
        try:
            origin, got_size, got_root = verify_checkpoint(note, vkey)
            self.check((origin, got_size, got_root) == (name, size, root),
                       "C checkpoint contents")
        except VerifyError as e:
            self.check(False, "C checkpoint verifies in Python: %s" % e)
        # Byte for byte: Ed25519 is deterministic, so Python signing the same
        # body with the same key must give the same note.
        body = "%s\n%d\n%s\n" % (name, size, base64.b64encode(root).decode())
        py_note, _ = sign_note(body, name, seed)
        self.check(py_note == note, "C and Python notes are identical")
        # Tampering caught by Python.
        for old, new in ((b"\n%d\n" % size, b"\n%d\n" % (size + 1)),
                         (b"\n\n\xe2\x80\x94", b"\n\xe2\x80\x94"),
                         (name.encode() + b"\n", name.encode() + b"x\n")):
            self.refuses(lambda o=old, n=new: verify_checkpoint(note.replace(o, n, 1), vkey),
                         "tampered C checkpoint %r" % new)
        other_seed = os.urandom(32)
        _, other_vkey = sign_note("x\n", name, other_seed)
        self.refuses(lambda: verify_checkpoint(note, other_vkey), "wrong key")

        # Python signs, C verifies.
        py_seed = os.urandom(32)
        py_root = os.urandom(32)
        py_body = "%s\n%d\n%s\n" % (name, 0, base64.b64encode(py_root).decode())
        py_cp, py_vkey = sign_note(py_body, name, py_seed)
        rc, out = self.c("open-checkpoint", py_vkey, stdin=py_cp)
        self.check(rc == 0 and out.decode() == "0 %s\n" % py_root.hex(),
                   "Python checkpoint verifies in C")
        rc, _ = self.c("open-checkpoint", py_vkey, stdin=py_cp.replace(b"\n0\n", b"\n00\n"))
        self.check(rc == 1, "C refuses a tampered Python checkpoint")
        rc, _ = self.c("open-checkpoint", vkey, stdin=py_cp)
        self.check(rc == 1, "C refuses a Python checkpoint under the wrong key")
        # An extra signature by an unknown witness is ignored by both.
        w_note, _ = sign_note(py_body, "witness.example/w1", os.urandom(32))
        both = py_cp + w_note[w_note.rfind(b"\n\n") + 2:]
        rc, out = self.c("open-checkpoint", py_vkey, stdin=both)
        self.check(rc == 0 and out.decode() == "0 %s\n" % py_root.hex(),
                   "C ignores a witness signature")
        self.check(verify_checkpoint(both, py_vkey)[1] == 0, "Python ignores a witness signature")

        # Statements (receipts, drill summaries) both ways.
        st = "keyescrow-v1-receipt\ndevice 42\nindex 7\n"
        rc, c_st = self.c("sign-statement", seed.hex(), name, stdin=st.encode())
        self.check(rc == 0 and open_note(c_st, vkey) == st, "C statement verifies in Python")
        self.check(c_st == sign_note(st, name, seed)[0], "C and Python statements identical")
        rc, out = self.c("open-note", py_vkey, stdin=sign_note(st, name, py_seed)[0])
        self.check(rc == 0 and out.decode() == st, "Python statement verifies in C")

        # Canonical JSON: Python's sorted, compact, non-ASCII-preserving
        # encoding of events with ASCII keys is exactly the canonical form.
        events = [
            {"seq": 0, "time": "2024-05-01T12:00:00Z", "actor": "user:alice",
             "action": "login", "outcome": "ok", "src": "192.0.2.1", "request_id": "r1"},
            {"seq": 1, "time": "2024-05-01T12:00:01Z", "actor": "user:j\u00f6rg",
             "action": "retrieval.create", "object": "device:laptop/42",
             "outcome": "denied", "details": {"reason": "line\nbreak \"quoted\" \u2028",
                                              "ticket": None, "n": [1, -2, True]}},
        ]
        lines = "".join(json.dumps(e, sort_keys=True, separators=(",", ":"),
                                   ensure_ascii=False) + "\n" for e in events)
        rc, _ = self.c("canon-check", stdin=lines.encode())
        self.check(rc == 0, "Python's canonical JSON is canonical in C")
        rc, _ = self.c("canon-check", stdin=(json.dumps(events[0]) + "\n").encode())
        self.check(rc == 1, "C refuses JSON with whitespace")

        print("note_verify selftest: %d checks, %d failures" % (self.checks, self.failures))
        return 1 if self.failures else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for cmd in ("verify-checkpoint", "verify-note"):
        p = sub.add_parser(cmd)
        p.add_argument("--vkey", required=True)
        p.add_argument("file")
    p = sub.add_parser("selftest")
    p.add_argument("--tool", required=True)
    p.add_argument("--doc", help="also check the example in this document")
    args = ap.parse_args()

    if args.cmd == "selftest":
        t = SelfTest(args.tool)
        if args.doc:
            t.check_doc(args.doc)
        return t.run()
    with open(args.file, "rb") as f:
        note = f.read()
    try:
        if args.cmd == "verify-checkpoint":
            origin, size, root = verify_checkpoint(note, args.vkey)
            print("origin %s\nsize %d\nroot %s" % (origin, size, root.hex()))
        else:
            sys.stdout.write(open_note(note, args.vkey))
    except VerifyError as e:
        print("note_verify: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
