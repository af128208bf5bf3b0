#!/usr/bin/env python3
"""fake_fdesetup.py - stands in for macOS fdesetup in the agent tests.

The current personal recovery key is in $FAKE_FV_STATE (JSON {"key",
"lvuuid"}).  Supported, with the authentication plist on stdin:
  validaterecovery -inputplist                 prints true / false
  changerecovery -personal -outputplist -inputplist
      requires the current key as Password, prints the output plist with a
      new RecoveryKey.  With $FAKE_FV_FAIL_AFTER_CHANGE=1 it changes the key
      but exits 1 without printing it (the key is lost, as in a crash).
Each call is appended to $FAKE_FV_STATE.log.
"""
import json
import os
import plistlib
import secrets
import sys

STATE = os.environ["FAKE_FV_STATE"]
ALPHA = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
with open(STATE) as f:
    st = json.load(f)
a = sys.argv[1:]
with open(STATE + ".log", "a") as f:
    f.write(" ".join(a) + "\n")
try:
    given = plistlib.loads(sys.stdin.buffer.read()).get("Password")
except Exception:
    given = None
if a == ["validaterecovery", "-inputplist"]:
    print("true" if given == st["key"] else "false")
    sys.exit(0)
if a == ["changerecovery", "-personal", "-outputplist", "-inputplist"]:
    if given != st["key"]:
        sys.stderr.write("Error: authentication failed\n")
        sys.exit(1)
    st["key"] = "-".join("".join(secrets.choice(ALPHA) for _ in range(4)) for _ in range(6))
    with open(STATE, "w") as f:
        json.dump(st, f)
    if os.environ.get("FAKE_FV_FAIL_AFTER_CHANGE") == "1":
        sys.exit(1)
    sys.stdout.buffer.write(plistlib.dumps({
        "EnabledDate": "2024-05-01 10:11:12 +0200", "EnabledUser": "admin",
        "HardwareUUID": "564D8E4B-1C2F-5A3E-9B7D-0E6F1A2B3C4D", "LVUUID": st["lvuuid"],
        "RecoveryKey": st["key"], "SerialNumber": "C02XK1ABJGH5"}))
    sys.exit(0)
sys.stderr.write("fake fdesetup: unsupported arguments %s\n" % a)
sys.exit(2)
