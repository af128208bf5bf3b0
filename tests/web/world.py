"""world.py URL ADMIN_PW_FILE MANIFEST OUT.json - the world the console test looks at,
made through the real API of a running escrowd:

  - the bootstrap admin (password from ADMIN_PW_FILE) logs in and creates
    a new helpdesk user (no password: a one-time password, which the browser
    test must change at its first login), and a helpdesk user (the
    requester), a custodian (index 1) and an auditor with passwords;
  - publishes the escrow key MANIFEST (made by escrowctl ceremony),
    makes an enrolment token, enrols a device with the independent Python
    agent of tests/server and escrows a BitLocker record for it;
  - enrols a second device whose hostname is an HTML payload (the console
    must show it as text, never as markup).

Prints nothing secret; OUT.json holds what the browser test needs.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "server"))
from device_agent import Agent, request  # noqa: E402

URL, ADMIN_PW, MANIFEST, OUT = sys.argv[1:5]
XSS_HOST = '<img src=x id="xss-probe" onerror="document.title=\'pwned\'">'


def die(msg, r=None):
    print("world.py: %s%s" % (msg, (": %r" % r) if r is not None else ""), file=sys.stderr)
    sys.exit(1)


def call(method, path, body=None, token=None, want=(200, 201)):
    h = {"Authorization": "Bearer " + token} if token else {}
    r = request(URL, method, path, body, h)
    if r.status not in want:
        die("%s %s" % (method, path), r)
    return r.json


admin_pw = open(ADMIN_PW).read().strip()
admin = call("POST", "/v1/login", {"user": "web-admin", "password": admin_pw})["token"]

world = {"url": URL, "users": {}}
hd = call("POST", "/v1/users", {"name": "web-newhire", "role": "helpdesk"}, admin)
if not hd.get("password_must_change") or not hd.get("one_time_password"):
    die("a user created without a password must get a one-time password", hd)
world["users"]["newhire"] = {"name": "web-newhire", "one_time": hd["one_time_password"],
                             "new": "newhire-" + os.urandom(9).hex()}
for role, extra in (("helpdesk", {}), ("custodian", {"custodian_index": 1}), ("auditor", {})):
    pw = role + "-" + os.urandom(9).hex()
    body = {"name": "web-" + role, "role": role, "password": pw}
    body.update(extra)
    call("POST", "/v1/users", body, admin)
    world["users"][role] = {"name": "web-" + role, "password": pw}

manifest = json.load(open(MANIFEST))
call("POST", "/v1/escrow-key", {"manifest": manifest}, admin)
tok = call("POST", "/v1/enroll-tokens", {"group": "web-laptops", "uses": 5, "expires_in": 3600},
           admin)["token"]

a = Agent(URL)
r = a.enroll(tok, hostname="web-laptop-01", serial="WEB0001")
if r.status != 201:
    die("enrol", r)
key_id = "{8F3A2B1C-AAAA-BBBB-CCCC-444455556666}"
r, _ = a.escrow("C:", os.urandom(32), key_type="bitlocker", key_id=key_id)
if r.status != 201:
    die("escrow", r)
world["device"] = {"id": a.device, "hostname": "web-laptop-01", "volume": "C:",
                   "record_id": r.json["record_id"], "key_id": key_id}
# A second volume, which t_console.sh marks disclosed by a drill.
r, _ = a.escrow("D:", os.urandom(32), key_type="bitlocker",
                key_id="{8F3A2B1C-DDDD-BBBB-CCCC-444455556666}")
if r.status != 201:
    die("escrow of D:", r)
world["device"]["drilled_record_id"] = r.json["record_id"]

x = Agent(URL)
r = x.enroll(tok, hostname=XSS_HOST, serial="WEBXSS")
if r.status != 201:
    die("enrol of the HTML-named device", r)
world["xss_device"] = {"id": x.device, "hostname": XSS_HOST}

with open(OUT, "w") as f:
    json.dump(world, f)
