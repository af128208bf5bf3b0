#!/usr/bin/env python3
"""Independent checks of escrowd's audit log, for tests/server/t_audit*.sh.

Written from RFC 9162 (section 2.1) and docs/audit.md, sharing no code with
lib/ke_merkle.c; the checkpoint signature is checked by the independent
verifier tests/audit/note_verify.py.

  t_audit_check.py log BASE TOKEN VKEY [--min-size N]
      fetch a fresh checkpoint (verified by note_verify.py), every entry,
      check each leaf (canonical JSON, an event whose seq is its index),
      recompute the root; print {"size":N,"root":hex,"actions":{...}}
  t_audit_check.py proofs BASE TOKEN [--random N] [--seed S]
      inclusion and consistency proofs from the API, for every pair up to
      24 leaves and N random pairs up to the tree size, verified against
      roots recomputed here; tampered proofs must fail
  t_audit_check.py udp-collect PORT OUT COUNT TIMEOUT
      write the first COUNT datagrams received on 127.0.0.1:PORT to OUT,
      one per line (for the syslog test)
"""

import argparse
import base64
import hashlib
import json
import os
import random
import socket
import subprocess
import sys

import device_agent

HERE = os.path.dirname(os.path.abspath(__file__))
NOTE_VERIFY = os.path.join(HERE, "..", "audit", "note_verify.py")


def fail(msg):
    print("t_audit_check: FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def get(base, path, token=None):
    r = device_agent.request(base, "GET", path,
                             headers={"Authorization": "Bearer " + token} if token else None)
    return r.status, r.raw


def get_json(base, path, token=None):
    st, body = get(base, path, token)
    if st != 200:
        fail("GET %s: HTTP %d %s" % (path, st, body[:200]))
    return json.loads(body)


# ---- RFC 9162 2.1, written out ------------------------------------------

def leaf_hash(b):
    return hashlib.sha256(b"\x00" + b).digest()


def node_hash(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def mth(hashes):
    n = len(hashes)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashes[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(mth(hashes[:k]), mth(hashes[k:]))


def verify_inclusion(index, size, lh, path, root):
    """RFC 9162 2.1.3.2."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, lh
    for p in path:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(first, second, first_root, second_root, path):
    """RFC 9162 2.1.4.2 (with the edge cases of docs/audit.md 2.2)."""
    if first > second:
        return False
    if first == second:
        return not path and first_root == second_root
    if first == 0:
        return not path and first_root == hashlib.sha256(b"").digest()
    if not path:
        return False
    if first & (first - 1) == 0:
        path = [first_root] + list(path)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


# ---- the log ------------------------------------------------------------

def fetch_leaves(base, token, size):
    leaves, start = [], 0
    while start < size:
        page = get_json(base, "/v1/audit/entries?start=%d&end=%d" % (start, size), token)
        if page["start"] != start or page["end"] <= start:
            fail("entries page %d: %r" % (start, {k: page[k] for k in ("start", "end")}))
        for e in page["entries"]:
            if e["index"] != len(leaves):
                fail("entry %d missing (got %d)" % (len(leaves), e["index"]))
            leaves.append(base64.b64decode(e["leaf"], validate=True))
        start = page["end"]
    return leaves[:size]


def check_leaf(i, leaf):
    ev = json.loads(leaf)
    canon = json.dumps(ev, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    if canon.encode() != leaf:
        fail("leaf %d is not canonical: %r" % (i, leaf[:200]))
    if ev.get("seq") != i:
        fail("leaf %d has seq %r" % (i, ev.get("seq")))
    for k in ("time", "actor", "action", "outcome", "request_id"):
        if not isinstance(ev.get(k), str) or not ev[k]:
            fail("leaf %d lacks %s" % (i, k))
    if ev["outcome"] not in ("success", "failure", "denied"):
        fail("leaf %d: outcome %r" % (i, ev["outcome"]))
    if set(ev) - {"seq", "time", "actor", "action", "outcome", "object", "src",
                  "request_id", "details"}:
        fail("leaf %d has unknown members" % i)
    return ev


def cmd_log(a):
    st, note = get(a.base, "/v1/audit/checkpoint?fresh=1&format=note")
    if st != 200:
        fail("checkpoint: HTTP %d" % st)
    path = os.path.join(a.tmp, "checkpoint.txt")
    with open(path, "wb") as f:
        f.write(note)
    out = subprocess.run([sys.executable, NOTE_VERIFY, "verify-checkpoint", "--vkey", a.vkey,
                          path], capture_output=True, text=True)
    if out.returncode != 0:
        fail("note_verify.py refused the checkpoint: " + out.stdout + out.stderr)
    fields = dict(line.split(None, 1) for line in out.stdout.strip().splitlines()
                  if " " in line)
    size, root = int(fields["size"]), bytes.fromhex(fields["root"].strip())
    if size < a.min_size:
        fail("tree size %d < %d" % (size, a.min_size))
    leaves = fetch_leaves(a.base, a.token, size)
    actions = {}
    for i, leaf in enumerate(leaves):
        ev = check_leaf(i, leaf)
        actions[ev["action"]] = actions.get(ev["action"], 0) + 1
    if mth([leaf_hash(x) for x in leaves]) != root:
        fail("the recomputed root differs from the signed checkpoint")
    print(json.dumps({"size": size, "root": root.hex(), "actions": actions}))


def b64list(xs):
    return [base64.b64decode(x, validate=True) for x in xs]


def cmd_proofs(a):
    size = get_json(a.base, "/v1/audit/checkpoint?fresh=1")["tree_size"]
    hashes = [leaf_hash(x) for x in fetch_leaves(a.base, a.token, size)]
    roots = [mth(hashes[:n]) for n in range(size + 1)]
    rnd = random.Random(a.seed)
    small = min(size, 24)
    incl = [(i, n) for n in range(1, small + 1) for i in range(n)]
    incl += [(rnd.randrange(n), n) for n in (rnd.randint(1, size) for _ in range(a.random))]
    cons = [(m, n) for n in range(0, small + 1) for m in range(n + 1)]
    cons += [tuple(sorted((rnd.randint(0, size), rnd.randint(0, size)))) for _ in range(a.random)]
    for i, n in incl:
        p = b64list(get_json(a.base, "/v1/audit/proof/inclusion?index=%d&size=%d" % (i, n))
                    ["inclusion_path"])
        if not verify_inclusion(i, n, hashes[i], p, roots[n]):
            fail("inclusion proof (%d, %d) does not verify" % (i, n))
        if p:
            bad = list(p)
            bad[rnd.randrange(len(bad))] = bytes(32)
            if verify_inclusion(i, n, hashes[i], bad, roots[n]):
                fail("a tampered inclusion proof (%d, %d) verifies" % (i, n))
        if n > 1 and verify_inclusion((i + 1) % n, n, hashes[i], p, roots[n]):
            fail("inclusion proof (%d, %d) verifies for another index" % (i, n))
    for m, n in cons:
        p = b64list(get_json(a.base, "/v1/audit/proof/consistency?from=%d&to=%d" % (m, n))
                    ["consistency_path"])
        if not verify_consistency(m, n, roots[m], roots[n], p):
            fail("consistency proof (%d, %d) does not verify" % (m, n))
        if 0 < m < n and verify_consistency(m, n, roots[m - 1] if m > 1 else bytes(32),
                                            roots[n], p):
            fail("consistency proof (%d, %d) verifies with a wrong old root" % (m, n))
    print("verified %d inclusion and %d consistency proofs over %d leaves"
          % (len(incl), len(cons), size))


def cmd_udp(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", a.port))
    s.settimeout(a.timeout)
    with open(a.out + ".ready", "w") as f:
        f.write("ready\n")
    got = []
    try:
        while len(got) < a.count:
            data, _ = s.recvfrom(70000)
            got.append(data)
    except socket.timeout:
        pass
    with open(a.out, "wb") as f:
        for d in got:
            f.write(d.replace(b"\n", b"\\n") + b"\n")


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("log")
    p.add_argument("base")
    p.add_argument("token")
    p.add_argument("vkey")
    p.add_argument("--min-size", type=int, default=1)
    p.add_argument("--tmp", default=os.environ.get("TMPDIR", "/tmp"))
    p = sub.add_parser("proofs")
    p.add_argument("base")
    p.add_argument("token")
    p.add_argument("--random", type=int, default=200)
    p.add_argument("--seed", type=int, default=int.from_bytes(os.urandom(4), "big"))
    p = sub.add_parser("udp-collect")
    p.add_argument("port", type=int)
    p.add_argument("out")
    p.add_argument("count", type=int)
    p.add_argument("timeout", type=float)
    a = ap.parse_args()
    if a.cmd == "log":
        cmd_log(a)
    elif a.cmd == "proofs":
        print("seed %d" % a.seed)
        cmd_proofs(a)
    else:
        cmd_udp(a)


if __name__ == "__main__":
    main()
