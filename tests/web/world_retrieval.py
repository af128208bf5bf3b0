"""world_retrieval.py URL WORLD.json - the helpdesk user of world.py asks
for the escrowed BitLocker key through the retrieval API, as escrowctl
retrieve does (docs/protocol.md, "Online retrieval"): registers an Ed25519
client key (PUT /v1/client-key), then POSTs a request naming the device and
volume with a one-time P-256 key E, signed over the request statement.
Nobody approves it: it stays pending for the browser test.  The reason
carries HTML, which the console must show as text.  Adds "retrieval" to
WORLD.json.
"""
import base64
import json
import os
import sys

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))
from device_agent import b64u, request  # noqa: E402

URL, WORLD = sys.argv[1], sys.argv[2]
world = json.load(open(WORLD))


def die(msg, r=None):
    print("world_retrieval.py: %s%s" % (msg, (": %r" % r) if r is not None else ""),
          file=sys.stderr)
    sys.exit(1)


hd = world["users"]["helpdesk"]
r = request(URL, "POST", "/v1/login", {"user": hd["name"], "password": hd["password"]})
if r.status != 200:
    die("helpdesk login", r)
auth = {"Authorization": "Bearer " + r.json["token"]}

ck = ed25519.Ed25519PrivateKey.generate()
ck_pub = ck.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
r = request(URL, "PUT", "/v1/client-key", {"public_key": b64u(ck_pub)}, auth)
if r.status not in (200, 201):
    die("client key registration", r)

e = ec.generate_private_key(ec.SECP256R1())
E = b64u(e.public_key().public_bytes(serialization.Encoding.X962,
                                     serialization.PublicFormat.CompressedPoint))
req_id = "req-" + base64.b32encode(os.urandom(16)).decode().rstrip("=").lower()
nonce = b64u(os.urandom(16))
dev = world["device"]
reason = 'Locked out after a BIOS update <b id="xss-probe">bold</b> & "quotes"'
ticket = "INC-4711"
stmt = ("keyescrow-v1-retrieval-request\nid=%s\ndevice=%s\nvolume=%s\nkey_id=%s\nE=%s\n"
        "reason=%s\nticket=%s\nnonce=%s\n" % (req_id, dev["hostname"], dev["volume"], "", E,
                                             reason, ticket, nonce))
body = {"request_id": req_id, "device": dev["hostname"], "volume": dev["volume"], "E": E,
        "reason": reason, "ticket": ticket, "nonce": nonce,
        "signature": b64u(ck.sign(stmt.encode()))}
r = request(URL, "POST", "/v1/retrievals", body, auth)
if r.status not in (200, 201):
    die("POST /v1/retrievals", r)
view = r.json.get("retrieval", r.json)
if view.get("request_id") != req_id or view.get("state") != "pending":
    die("unexpected answer", r)
world["retrieval"] = {"id": req_id, "code": view["confirmation_code"], "needed": view["needed"],
                      "reason": reason, "ticket": ticket}
with open(WORLD, "w") as f:
    json.dump(world, f)
