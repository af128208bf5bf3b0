#!/usr/bin/env python3
"""t_evidence.py - the signed evidence bundle (`escrowctl report evidence`
and `report verify-evidence`) against a real escrowd and PostgreSQL (the
world of t_device_lib.sh): real retrievals (signed POST /v1/retrievals), a
real share attestation, then a bundle that verifies, and tampering that is
caught, each naming the file or the entry."""
import base64
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import t_device as td  # noqa: E402
from device_agent import b64u, request  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey  # noqa: E402

URL = td.URL
check, expect, sql, auth = td.check, td.expect, td.sql, td.auth
CTL = os.environ["KE_ESCROWCTL"]
HOME = os.path.join(td.WORK, "evhome")
CONTEXT = b"keyescrow-v1-evidence-manifest\n"


def ctl(*args, role="auditor"):
    env = dict(os.environ, ESCROWCTL_SERVER=URL, ESCROWCTL_TOKEN=td.TOK[role], HOME=HOME,
               ESCROWCTL_LOG_KEY=td.log_vkey())
    return subprocess.run([CTL] + list(args), env=env, capture_output=True, text=True)


def retrieve(hd, key, device):
    """A signed retrieval request (docs/protocol.md section 8), as t_scope.py."""
    rid = "req-" + "".join("abcdefghijklmnopqrstuvwxyz234567"[b & 31] for b in os.urandom(26))
    E = b64u(bytes.fromhex("036b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"))
    f = {"id": rid, "device": device, "volume": "", "key_id": "", "E": E,
         "reason": "locked <out> & \"away\"", "ticket": "INC-9", "nonce": b64u(os.urandom(16))}
    stmt = "keyescrow-v1-retrieval-request\n" + "".join(
        "%s=%s\n" % (k, f[k]) for k in ("id", "device", "volume", "key_id", "E", "reason",
                                         "ticket", "nonce"))
    body = {"request_id": rid, "E": E, "reason": f["reason"], "ticket": f["ticket"],
            "nonce": f["nonce"], "signature": b64u(key.sign(stmt.encode())), "device": device}
    expect(request(URL, "POST", "/v1/retrievals", body, hd), 201, what="retrieval " + rid)
    return rid


def world():
    td.publish(1)
    tok = td.new_token(uses=3)[0]
    devs = []
    for host in ("ev-one", "ev-two"):
        a = td.enrolled(tok, hostname=host)
        r, _ = a.escrow("C:", os.urandom(32), key_type="bitlocker",
                        key_id="{%08X-1111-2222-3333-444455556666}" % (len(devs) + 0xE0))
        expect(r, 201, what="escrow " + host)
        devs.append(a.device)
    key = Ed25519PrivateKey.generate()
    pub = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    expect(request(URL, "PUT", "/v1/client-key", {"public_key": b64u(pub)}, auth("helpdesk")),
           200, what="helpdesk client key")
    rids = [retrieve(auth("helpdesk"), key, d) for d in devs]
    idx = int(sql("SELECT custodian_index FROM users WHERE name = 'dev-custodian'"))
    d = os.path.join(td.WORK, "k1")
    out = ctl("share", "attest", "--manifest", os.path.join(d, "keys", "escrow-key.json"),
              "--share", os.path.join(d, "keys", "custodian-%d.share.json" % idx),
              "--passphrase-file", os.path.join(d, "private", "pass%d" % idx), role="custodian")
    check(out.returncode == 0, "share attest: %s %s" % (out.stdout, out.stderr))
    return rids


def verify(d, *extra):
    return ctl("report", "verify-evidence", *extra, d)


def fails(d, what, *needles, extra=()):
    out = verify(d, *extra)
    check(out.returncode != 0 and all(n in out.stderr for n in needles),
          "%s is caught: rc %d %r" % (what, out.returncode, out.stderr))


def resign(d, keyfile):
    """Re-sign manifest.json with the auditor's own key (the auditor as the
    forger): only the log checks can catch what it changed."""
    line = open(keyfile).read().strip()
    seed = base64.b64decode(line.split("+", 4)[4])[1:]  # PRIVATE+KEY+name+id+b64
    k = Ed25519PrivateKey.from_private_bytes(seed)
    sig = k.sign(CONTEXT + open(os.path.join(d, "manifest.json"), "rb").read())
    open(os.path.join(d, "manifest.sig"), "w").write(b64u(sig) + "\n")


def rewrite(d, name, fn, rehash=True):
    p = os.path.join(d, name)
    data = fn(open(p, "rb").read())
    open(p, "wb").write(data)
    if rehash:
        import hashlib
        mp = os.path.join(d, "manifest.json")
        m = json.load(open(mp))
        if name in m["files"]:
            m["files"][name] = hashlib.sha256(data).hexdigest()
        open(mp, "w").write(json.dumps(m, indent=2, sort_keys=True))


def copy(src, name):
    dst = os.path.join(td.WORK, name)
    shutil.copytree(src, dst)
    return dst


def main():
    rids = world()
    keyfile = os.path.join(td.WORK, "auditor-key")
    out = ctl("key", "register", "--client-key", keyfile)
    check(out.returncode == 0, "auditor key register: %s %s" % (out.stdout, out.stderr))
    fpr = ctl("key", "show", "--client-key", keyfile).stdout.split()[0]
    out = ctl("drill", "start", "--all", "--key-out", os.path.join(td.WORK, "drill.key"),
              "--client-key", keyfile)
    check(out.returncode == 0, "drill start: %s %s" % (out.stdout, out.stderr))
    drill = out.stdout.strip().splitlines()[-1]
    day = sql("SELECT to_char(now() - interval '1 day', 'YYYY-MM-DD')")
    end = sql("SELECT to_char(now() + interval '1 day', 'YYYY-MM-DD')")
    b1 = os.path.join(td.WORK, "bundle1")
    out = ctl("report", "evidence", "--from", day, "--to", end, "--out", b1,
              "--client-key", keyfile, "--drill", drill)
    check(out.returncode == 0 and fpr in out.stdout, "evidence: %s %s" % (out.stdout, out.stderr))
    rows = json.load(open(os.path.join(b1, "retrievals.json")))["retrievals"]
    check(sorted(r["retrieval_id"] for r in rows) == sorted(rids), "both retrievals listed")
    cov = json.load(open(os.path.join(b1, "coverage.json")))
    check(cov["custodians"]["attested_90_days"] >= 1, "the attestation is in the bundle")
    html = open(os.path.join(b1, "index.html")).read()
    check("&lt;out&gt; &amp; &quot;away&quot;" in html and "<out>" not in html
          and not any(x in html for x in ("<script", "<link", "src=", "href=", "url(")),
          "index.html: escaped, self-contained")
    out = verify(b1, "--pin-auditor", fpr)
    check(out.returncode == 0 and "2 retrieval(s)" in out.stdout and "1 drill(s)" in out.stdout
          and "verifies" in out.stdout and drill in html,
          "verify-evidence passes: %s %s" % (out.stdout, out.stderr))
    fails(b1, "another pinned auditor", "not the pinned", extra=("--pin-auditor", "ab" * 32))
    td.ok("evidence bundle: made, verified, pinned auditor")

    # (a) one byte changed, in every file.
    for name in ("coverage.json", "coverage.csv", "retrievals.json", "retrievals.csv",
                 "drills.json", "proofs.json", "index.html"):
        t = copy(b1, "byte-" + name)
        rewrite(t, name, lambda b: b[:-2] + bytes([b[-2] ^ 1]) + b[-1:], rehash=False)
        fails(t, "a byte of " + name, name + ": SHA-256")
    t = copy(b1, "byte-manifest")
    rewrite(t, "manifest.json", lambda b: b.replace(b'"from": "', b'"from": "1', 1), rehash=False)
    fails(t, "a byte of manifest.json", "manifest.sig: the signature of manifest.json")
    td.ok("one byte changed in any file is caught, naming the file")

    # (b) a retrieval row removed: re-hashed, the signature trips; re-signed
    # by the auditor too, the log's proofs still list it.
    def drop_row(b):
        j = json.loads(b)
        j["retrievals"] = j["retrievals"][1:]
        return json.dumps(j).encode()
    gone = rows[0]["retrieval_id"]
    t = copy(b1, "row-rehashed")
    rewrite(t, "retrievals.json", drop_row)
    fails(t, "a row removed and re-hashed", "manifest.sig: the signature")
    resign(t, keyfile)
    fails(t, "a row removed and re-signed", "the log has retrieval %s" % gone,
          "but the report does not list it")
    check("SHA-256" not in verify(t).stderr, "re-hashed: only the log check trips")
    t = copy(b1, "row-added")
    rewrite(t, "proofs.json", lambda b: json.dumps(dict(json.loads(b), events=json.loads(b)[
        "events"][1:])).encode())
    resign(t, keyfile)
    fails(t, "a proof removed", "retrieval %s (row" % json.loads(open(os.path.join(
        b1, "proofs.json")).read())["events"][0]["retrieval_id"], "no proven event")
    td.ok("a removed retrieval row is caught, naming the retrieval")

    t = copy(b1, "drill-removed")
    rewrite(t, "drills.json", lambda b: json.dumps({"drills": []}).encode())
    resign(t, keyfile)
    fails(t, "a drill removed", "drill.create event of drill %s" % drill,
          "drills.json does not list the drill")
    t = copy(b1, "drill-invented")
    fake = "drl-" + "a" * 26
    rewrite(t, "drills.json", lambda b: json.dumps({"drills": json.loads(b)["drills"] + [
        {"id": fake, "state": "completed"}]}).encode())
    resign(t, keyfile)
    fails(t, "an invented drill", "drills.json: drill %s (entry 2) has no proven" % fake)
    td.ok("a removed or invented drill is caught, naming the drill")

    # (c) a checkpoint from a forked log: another log key's, and the real
    # log key's own checkpoint of a later tree.
    fork = Ed25519PrivateKey.generate()
    m = json.load(open(os.path.join(b1, "manifest.json")))
    body = m["checkpoint"].split("\n\n")[0] + "\n"
    origin = body.split("\n")[0]
    fpub = fork.public_key().public_bytes(serialization.Encoding.Raw,
                                          serialization.PublicFormat.Raw)
    import hashlib
    kid = hashlib.sha256(origin.encode() + b"\n\x01" + fpub).digest()[:4]
    forged = body + "\n\u2014 %s %s\n" % (origin, base64.b64encode(kid + fork.sign(
        body.encode())).decode())
    t = copy(b1, "forked")
    rewrite(t, "manifest.json", lambda b: json.dumps(dict(json.loads(b), checkpoint=forged),
                                                     indent=2, sort_keys=True).encode())
    resign(t, keyfile)
    fails(t, "another log's checkpoint", "manifest.json: the checkpoint does not verify")
    # A second bundle: consistent with the first; then the first's
    # checkpoint swapped for a later one of the same log, whose proofs no
    # longer match: the inclusion proofs name the entries.
    b2 = os.path.join(td.WORK, "bundle2")
    out = ctl("report", "evidence", "--from", day, "--to", end, "--out", b2, "--previous", b1,
              "--client-key", keyfile)
    check(out.returncode == 0, "second bundle: %s %s" % (out.stdout, out.stderr))
    out = verify(b2, "--previous", b1)
    check(out.returncode == 0 and "consistent with the previous" in out.stdout,
          "second bundle verifies against the first: %s %s" % (out.stdout, out.stderr))
    t = copy(b1, "later-report")
    rewrite(t, "coverage.json", lambda b: open(os.path.join(b2, "coverage.json"), "rb").read())
    resign(t, keyfile)
    fails(t, "a report of a later checkpoint", "coverage.json: the checkpoint the report names")
    def bad_path(b):
        j = json.loads(b)
        j["previous"]["consistency_path"][0] = base64.b64encode(bytes(32)).decode()
        return json.dumps(j, indent=2, sort_keys=True).encode()
    t = copy(b2, "bad-consistency")
    rewrite(t, "manifest.json", bad_path)
    resign(t, keyfile)
    fails(t, "a wrong consistency proof", "manifest.json: FORKED LOG", extra=("--previous", b1))
    later = json.load(open(os.path.join(b2, "manifest.json")))["checkpoint"]
    t = copy(b1, "swapped")
    rewrite(t, "manifest.json", lambda b: json.dumps(dict(json.loads(b), checkpoint=later),
                                                     indent=2, sort_keys=True).encode())
    resign(t, keyfile)
    fails(t, "another checkpoint of the log", "proofs.json: proofs for tree size")
    fails(b2, "the wrong previous bundle", "previous checkpoint is not the one",
          extra=("--previous", os.path.join(td.WORK, "forked")))
    td.ok("a checkpoint from a forked log is caught")


if __name__ == "__main__":
    main()
