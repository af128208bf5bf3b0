#!/usr/bin/env python3
"""t_drill_fleet.py URL ENROLL_TOKEN N OUTDIR - a fleet for the drill tests,
built through the real device API with the independent Python agent
(device_agent.py): N devices, each enrolled and escrowing one secret.
Device 0 escrows a BitLocker recovery password (valid block checksums),
the others LUKS passphrases; the last one uploads a verifier made from
another secret (a record whose verifier does not match its key), and
device 3 (when N > 4) an envelope with one ciphertext byte flipped before it
signed it: escrowed, logged and corrupt from the start, so that a drill
finds it (AEAD) while custodians still prove its escrow event.  Device 1
(an operator-typed secret) uploads a v2 (scrypt) verifier, as the last one
does for its wrong secret: the drill checks both forms.
Writes OUTDIR/secrets (one secret per line, to grep for leaks),
OUTDIR/badverifier, OUTDIR/corrupt and OUTDIR/v2record (those records' ids).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from device_agent import Agent, b64u, verifier_v2  # noqa: E402

url, token, n, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
BDE = b"541772-440143-582263-513117-171534-587862-296956-456676"
secrets, bad, v2rec, corrupt = [], None, None, None
for i in range(n):
    a = Agent(url)
    r = a.enroll(token, hostname="drill-%02d" % i, serial="S%04d" % i)
    assert r.status in (200, 201), (r.status, r.raw)
    if i == 0:
        s, kt, kid, vol = BDE, "bitlocker", "{0B4C6C0E-6F5A-4B55-9E3A-1D2C3B4A5F60}", "C:"
    else:
        s = ("drill-passphrase-%02d-%s" % (i, os.urandom(6).hex())).encode()
        kt, kid, vol = "luks", None, "root"
    body, env = a.escrow_body(vol, s, key_type=kt, key_id=kid)
    if i == 1:
        body["verifier"] = b64u(verifier_v2(s, a.device, vol))
    if i == n - 1:
        body["verifier"] = b64u(verifier_v2(b"not-the-secret", a.device, vol))
    if i == 3 and n > 4:
        env = bytearray(env)
        env[100] ^= 1
        body["envelope"] = b64u(bytes(env))
        body["signature"] = b64u(a.priv.sign(bytes(env) + a.device.encode() + b"\x00" +
                                             vol.encode()))
    r = a.call("PUT", "/v1/devices/%s/keys/%s" % (a.device, vol), body)
    assert r.status == 201, (r.status, r.raw)
    if i == 1:
        v2rec = r.json["record_id"]
    if i == n - 1:
        bad = r.json["record_id"]
    if i == 3 and n > 4:
        corrupt = r.json["record_id"]
    secrets.append(s.decode())
with open(os.path.join(out, "secrets"), "w") as f:
    f.write("\n".join(secrets) + "\n")
with open(os.path.join(out, "badverifier"), "w") as f:
    f.write(bad + "\n")
with open(os.path.join(out, "v2record"), "w") as f:
    f.write(v2rec + "\n")
with open(os.path.join(out, "corrupt"), "w") as f:
    f.write((corrupt or "") + "\n")
