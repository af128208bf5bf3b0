#!/usr/bin/env python3
"""Regenerate the seed corpora of the libescrow fuzz targets from the v1
vectors: python3 tests/fuzz/make_corpus.py (run from anywhere).

Seeds are the real vector objects (so the success paths are reachable) and
a few near misses that stop at each validation step."""
import base64, hashlib, json, os, pathlib

here = pathlib.Path(__file__).resolve().parent
vec = json.loads((here.parent / "vectors" / "keyescrow-v1.json").read_text())


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

