#!/usr/bin/env python3
"""t_drill_after.py - the devices of t_drill_after.sh, through the real
device API with the independent Python agent (device_agent.py):

  fleet URL ENROLL_TOKEN N STATE   N devices, each enrolled and escrowing one
                                   LUKS passphrase; their keys and records go
                                   to STATE (JSON), the secrets to STATE.secrets
  checkin URL STATE [--rotate]     one check-in of every device, printing
                                   "DEVICE VOLUME REASON" per rotation asked
                                   for ("DEVICE - -" when none); with
                                   --rotate, a device asked to rotate escrows
                                   a new secret, as its agent would
                                   ("rotated DEVICE OLD NEW")
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: E402
from device_agent import Agent  # noqa: E402

RAW = dict(encoding=serialization.Encoding.Raw, format=serialization.PrivateFormat.Raw,
           encryption_algorithm=serialization.NoEncryption())


def escrow(a, dev, secrets):
    s = ("after-drill-%s-%s" % (dev["device"][-6:], os.urandom(8).hex())).encode()
    r, _ = a.escrow(dev["volume"], s, manifest=dev["manifest"])
    assert r.status == 201, (r.status, r.raw)
    secrets.append(s.decode())
    return r.json["record_id"]


def agent(url, dev):
    a = Agent(url, ed25519.Ed25519PrivateKey.from_private_bytes(bytes.fromhex(dev["key"])))
    a.device = dev["device"]
    return a


def fleet(url, token, n, state):
    devs, secrets = [], []
    for i in range(n):
        a = Agent(url)
        r = a.enroll(token, hostname="after-%02d" % i, serial="A%04d" % i)
        assert r.status in (200, 201), (r.status, r.raw)
        dev = {"device": a.device, "key": a.priv.private_bytes(**RAW).hex(), "volume": "root",
               "manifest": a.enrollment["escrow_key"]}
        dev["record"] = escrow(a, dev, secrets)
        devs.append(dev)
    json.dump(devs, open(state, "w"))
    with open(state + ".secrets", "a") as f:
        f.write("\n".join(secrets) + "\n")


def checkin(url, state, rotate):
    devs, secrets = json.load(open(state)), []
    for dev in devs:
        a = agent(url, dev)
        r = a.checkin([{"volume_id": dev["volume"], "record_id": dev["record"],
                        "unlock_check": "ok"}])
        assert r.status == 200, (r.status, r.raw)
        asked = r.json["rotate"]
        if not asked:
            print(dev["device"], "-", "-")
        for x in asked:
            print(dev["device"], x["volume_id"], x["reason"])
        if rotate and asked:
            new = escrow(a, dev, secrets)
            print("rotated", dev["device"], dev["record"], new)
            dev["record"] = new
    json.dump(devs, open(state, "w"))
    with open(state + ".secrets", "a") as f:
        f.write("".join(s + "\n" for s in secrets))


if __name__ == "__main__":
    if sys.argv[1] == "fleet":
        fleet(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
    else:
        checkin(sys.argv[2], sys.argv[3], "--rotate" in sys.argv[4:])
