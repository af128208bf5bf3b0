#!/usr/bin/env python3
"""Regenerate the seed corpora of the libescrow fuzz targets from the v1
vectors: python3 tests/fuzz/make_corpus.py (run from anywhere).

Seeds are the real vector objects (so the success paths are reachable) and
a few near misses that stop at each validation step."""
import base64, hashlib, json, os, pathlib

here = pathlib.Path(__file__).resolve().parent
vec = json.loads((here.parent / "vectors" / "keyescrow-v1.json").read_text())
# the project's own known answers (the v2 verifier) live beside the shared file
vec.update(json.loads((here.parent / "vectors" / "keyescrow-local.json").read_text()))


def write(target, name, data):
    d = here / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_bytes(data)


def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=")


for i, e in enumerate(vec["envelope"]):
    env = bytes.fromhex(e["envelope"])
    write("fuzz_envelope", f"vector-{i}", env)
    write("fuzz_envelope", f"vector-{i}-short", env[:95])
    write("fuzz_envelope", f"vector-{i}-badmagic", b"KF" + env[2:])
    write("fuzz_envelope", f"vector-{i}-badR", env[:35] + b"\x04" + env[36:])
    write("fuzz_b64url", f"envelope-{i}", b64u(env))

for i, p in enumerate(vec["part"]):
    part = bytes.fromhex(p["part"])
    pt = bytes.fromhex(p["plaintext"])
    write("fuzz_part", f"part-{i}", part)
    write("fuzz_part", f"part-{i}-badRe", part[:3] + b"\x00" + part[4:])
    write("fuzz_part", f"dleq-{i}", pt)
    write("fuzz_part", f"dleq-{i}-bigc", pt[:33] + b"\xff" * 32 + pt[65:])
    write("fuzz_b64url", f"part-{i}", b64u(part))

for i, d in enumerate(vec["dleq"]):
    wire = bytes.fromhex(d["P"] + d["c"] + d["s"])
    write("fuzz_part", f"dleq-vector-{i}", wire)

for i, s in enumerate([b"", b"Zg", b"Zm8", b"Zm9v", b"Zm9vYg", b"Zg==", b"Zh", b"--__",
                       b"00ff", b"ABCDEF", b"Zm+v"]):
    write("fuzz_b64url", f"edge-{i}", s)

# Stored verifiers (fuzz_envelope also parses its input as one): the v2
# vectors, a v1, a v2 below the cost floor, and their base64url texts.
for i, v in enumerate(vec.get("verifier_v2", [])):
    ver = bytes.fromhex(v["verifier"])
    write("fuzz_envelope", f"verifier-v2-{i}", ver)
    write("fuzz_envelope", f"verifier-v2-{i}-b64", b64u(ver))
    write("fuzz_envelope", f"verifier-v2-{i}-cheap", ver[:3] + b"\x10" + ver[4:])
for i, v in enumerate(vec["verifier"][:1]):
    write("fuzz_envelope", f"verifier-v1-{i}", bytes.fromhex(v["verifier"]))


def signed_requests():
    """Request seeds with the "requester" member (docs/protocol.md 5.3): the
    hand-made `request` seed signed by a fixed Ed25519 key, and near misses
    that stop at each of its checks.  Needs python3-cryptography."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    base = json.loads((here / "corpus" / "fuzz_reqfiles" / "request").read_bytes()[1:])
    key = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    pub = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    req = {"user": "hd1", "public_key": b64u(pub).decode(),
           "fingerprint": hashlib.sha256(pub).hexdigest(), "device": base["device"],
           "volume": base["volume"], "key_id": "", "reason": "user locked out",
           "ticket": "INC-1001", "nonce": "AAECAwQFBgcICQoLDA0ODw"}

    def stmt(q, rid, E):
        return ("keyescrow-v1-retrieval-request\nid=%s\ndevice=%s\nvolume=%s\nkey_id=%s\n"
                "E=%s\nreason=%s\nticket=%s\nnonce=%s\n" % (
                    rid, q["device"], q["volume"], q["key_id"], E, q["reason"],
                    q["ticket"], q["nonce"])).encode()

    def seed(name, q, sign_over=None, **top):
        q = dict(q)
        if "signature" not in q:
            q["signature"] = b64u(key.sign(stmt(sign_over or q, base["request_id"],
                                                base["E"]))).decode()
        d = dict(base, requester=q, **top)
        write("fuzz_reqfiles", name, b"r" + json.dumps(d, indent=2).encode())

    seed("request-signed", req)
    seed("request-signed-keyid", dict(req, device="", volume="", key_id="0B4C6C0E"))
    seed("request-signed-badsig", dict(req, reason="another reason"), sign_over=req)
    seed("request-signed-badfpr", dict(req, fingerprint="00" * 32))
    seed("request-signed-othervolume", dict(req, volume="D:"))
    seed("request-signed-both", dict(req, key_id="0B4C6C0E"))
    seed("request-signed-unknown", dict(req, extra="x"))
    seed("request-signed-baduser", dict(req, user="Not A User"))
    seed("request-signed-badnonce", dict(req, nonce="short"))


signed_requests()
