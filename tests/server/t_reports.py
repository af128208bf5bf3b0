#!/usr/bin/env python3
"""t_reports.py - the coverage report (GET /v1/reports/coverage and
`escrowctl report coverage`) on a constructed fleet, against a real escrowd
and PostgreSQL (the world of t_device_lib.sh).

Every state is made by the real API with the independent Python agent
(device_agent.py): enrolment, escrow, check-ins with matching and wrong
verifiers, a move to a new escrow key.  Superuser SQL is used only where
no API exists yet: time travel (a check-in 40 days ago) and a disclosure
(retrievals are another issue's API).
"""
import csv
import io
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import t_device as td  # noqa: E402
from device_agent import b64u, request, verifier  # noqa: E402
import note_verify  # noqa: E402

URL = td.URL
check, expect, sql, auth = td.check, td.expect, td.sql, td.auth


def report(query="", role="auditor"):
    r = request(URL, "GET", "/v1/reports/coverage" + query, headers=auth(role))
    return r


def escrowed(a, vol, key_type="luks", manifest=None, key_id=None):
    s = os.urandom(32)
    r, _ = a.escrow(vol, s, key_type=key_type, manifest=manifest, key_id=key_id)
    expect(r, 201, what="escrow %s" % vol)
    return r.json["record_id"], s


def checked_in(a, rec, vol, secret, good=True, unlock="ok"):
    v = verifier(secret if good else os.urandom(32), a.device, vol)
    r = a.checkin([{"volume_id": vol, "record_id": rec, "verifier": b64u(v),
                    "unlock_check": unlock}])
    expect(r, 200, what="checkin")


def build_fleet():
    """Devices by name -> Agent.  Key 1 is current when the old-key device
    escrows; key 2 becomes current before everyone else escrows."""
    td.publish(1)
    tok = td.new_token(uses=20)[0]
    srv_tok = td.new_token(uses=5, group="servers")[0]
    f = {}
    f["old"] = td.enrolled(tok, hostname="old-key")
    rec, s = escrowed(f["old"], "C:", key_type="bitlocker",
                      key_id="{0A1B2C3D-0000-1111-2222-333344445555}")
    checked_in(f["old"], rec, "C:", s)
    expect(td.publish(2), 201, what="publish key 2")
    f["never"] = td.enrolled(tok, hostname="never-escrowed")
    f["verified"] = td.enrolled(tok, hostname="verified")
    rec, s = escrowed(f["verified"], "luks-1")
    checked_in(f["verified"], rec, "luks-1", s)
    rec2, s2 = escrowed(f["verified"], "C:", key_type="bitlocker",
                        key_id="{11111111-0000-1111-2222-333344445555}")
    r = f["verified"].checkin([
        {"volume_id": "luks-1", "record_id": rec, "verifier": b64u(verifier(s, f["verified"].device,
                                                                             "luks-1")),
         "unlock_check": "ok"},
        {"volume_id": "C:", "record_id": rec2,
         "verifier": b64u(verifier(s2, f["verified"].device, "C:")), "unlock_check": "ok"}])
    expect(r, 200, what="checkin of two volumes")
    f["stale"] = td.enrolled(tok, hostname="stale")
    rec, s = escrowed(f["stale"], "luks-1")
    checked_in(f["stale"], rec, "luks-1", s)
    sql("UPDATE devices SET last_checkin = now() - interval '40 days' WHERE id = '%s'"
        % f["stale"].device, owner=True)
    f["disclosed"] = td.enrolled(tok, hostname="disclosed")
    rec, s = escrowed(f["disclosed"], "luks-1")
    checked_in(f["disclosed"], rec, "luks-1", s)
    sql("UPDATE escrow_records SET state = 'disclosed' WHERE id = '%s'" % rec, owner=True)
    f["mismatch"] = td.enrolled(tok, hostname="mismatch")
    rec, s = escrowed(f["mismatch"], "luks-1")
    checked_in(f["mismatch"], rec, "luks-1", s, good=False, unlock="failed")
    f["unverified"] = td.enrolled(tok, hostname="unverified")
    escrowed(f["unverified"], "luks-1")
    # Another group and OS, with a hostname CSV must quote.
    f["server"] = td.enrolled(srv_tok, hostname='db,1 "primary"', os_name="rhel 9")
    rec, s = escrowed(f["server"], "data", key_type="other", key_id="other:data")
    # A superseded record does not count: only the current one does.
    rec, s = escrowed(f["server"], "data", key_type="other", key_id="other:data")
    checked_in(f["server"], rec, "data", s, unlock="unsupported")
    return f


def check_checkpoint(ans):
    vkey = td.log_vkey()
    a = ans["audit"]
    origin, size, root = note_verify.verify_checkpoint(a["checkpoint"].encode(), vkey)
    check(size == a["tree_size"] and b64u(root) == a["root"].rstrip("=").replace("+", "-")
          .replace("/", "_"), "checkpoint fields match the signed note")
    check(a["leaf_index"] < size, "the checkpoint covers the report's own event")
    ev = td.leaf_at(a["leaf_index"])
    check(ev["action"] == "report.coverage" and ev["actor"] == "user:dev-auditor",
          "the report is audited at its leaf: %r" % ev)


def json_report(f):
    r = report()
    expect(r, 200, what="coverage report")
    ans = r.json
    keys = list(ans)
    check(keys.index("totals") < keys.index("devices") and
          keys.index("audit") < keys.index("devices"), "totals and checkpoint come first")
    check(ans["escrow_key"] == td.fingerprint(2), "current escrow key named")
    t, p = ans["totals"], ans["percent"]
    want = {"devices": 8, "disabled": 0, "escrowed": 7, "enrolled_never_escrowed": 1,
            "verified": 5, "verifier_mismatch": 1, "not_verified": 1, "unlock_ok": 4,
            "unlock_failed": 1, "old_escrow_key": 1, "disclosed_not_rotated": 1, "stale": 1,
            "bitlocker": 2, "filevault": 0, "luks": 5, "other": 1}
    check(t == want, "totals %r" % t)
    check(p["escrowed"] == 87.5 and p["stale"] == 12.5 and p["verified"] == 62.5,
          "percent %r" % p)
    rows = {d["hostname"]: d for d in ans["devices"]}
    check(len(ans["devices"]) == 8 and [d["device_id"] for d in ans["devices"]] ==
          sorted(d["device_id"] for d in ans["devices"]), "one row per device, by id")
    n = rows["never-escrowed"]
    check(not n["escrowed"] and n["verifier"] is None and n["escrow_key"] is None and
          not n["stale"] and n["key_types"] == {"bitlocker": 0, "filevault": 0, "luks": 0,
                                                "other": 0}, "never escrowed %r" % n)
    v = rows["verified"]
    check(v["escrowed"] and v["verifier"] == "match" and v["unlock_check"] == "ok" and
          v["escrow_key"] == "current" and v["verified_at"] and v["unlock_checked_at"] and
          v["key_types"]["luks"] == 1 and v["key_types"]["bitlocker"] == 1 and not v["stale"]
          and not v["disclosed_not_rotated"], "verified %r" % v)
    check(rows["stale"]["stale"] and rows["stale"]["verifier"] == "match", "stale")
    check(rows["disclosed"]["disclosed_not_rotated"], "disclosed not rotated")
    o = rows["old-key"]
    check(o["escrow_key"] == "old" and o["verifier"] == "match", "old escrow key %r" % o)
    m = rows["mismatch"]
    check(m["verifier"] == "mismatch" and m["unlock_check"] == "failed", "mismatch %r" % m)
    s = rows['db,1 "primary"']
    check(s["key_types"]["other"] == 1 and s["verifier"] == "match" and
          s["unlock_check"] == "incomplete" and s["group"] == "servers" and s["os"] == "rhel 9",
          "server %r" % s)
    u = rows["unverified"]
    check(u["verifier"] == "not_verified" and u["unlock_check"] == "incomplete" and
          not u["stale"], "escrowed, never checked in %r" % u)
    check_checkpoint(ans)
    td.ok("coverage: totals, percentages and every constructed state")
    # Filters and the stale parameter.
    r = report("?group=servers")
    check(r.json["totals"]["devices"] == 1 and r.json["parameters"]["group"] == "servers",
          "group filter")
    r = report("?os=rhel%209")
    check(r.json["totals"]["devices"] == 1, "os filter")
    r = report("?group=laptops&os=rhel%209")
    check(r.json["totals"]["devices"] == 0 and r.json["devices"] == [] and
          r.json["percent"]["escrowed"] == 0, "empty report")
    r = report("?stale_days=60")
    check(r.json["totals"]["stale"] == 0, "40 days is not stale at 60")
    for q in ("?stale_days=0", "?stale_days=x", "?format=xml", "?group=%20x"):
        expect(report(q), 400, "bad_request", "bad query %s" % q)
    for role in ("helpdesk", "admin", "custodian"):
        expect(report(role=role), 403, what="coverage as %s" % role)
    td.ok("coverage: group/os filters, stale_days, validation, auditor only")


def csv_report():
    r = report("?format=csv")
    expect(r, 200, what="csv report")
    check(r.headers.get("Content-Type", "").startswith("text/csv"), "csv type")
    raw = r.raw.decode()
    # RFC 4180: CRLF after every record; a bare LF only inside quotes.
    rows = list(csv.reader(io.StringIO(raw, newline=""), strict=True))
    check(raw.endswith("\r\n"), "CRLF at the end")
    check(all(len(x) == 22 for x in rows), "every record has 22 fields")
    check(rows[0][:4] == ["row", "name", "value", "percent"], "header")
    kinds = [x[0] for x in rows[1:]]
    check(kinds.index("total") < kinds.index("device") and
          "device" not in kinds[:kinds.index("total")], "totals before devices")
    note = [x for x in rows if x[:2] == ["audit", "checkpoint"]][0][2]
    note_verify.verify_checkpoint(note.encode(), td.log_vkey())
    check("\n" in note, "a multi-line field survives quoting")
    dev = {x[4]: x for x in rows if x[0] == "device"}
    check('db,1 "primary"' in dev and dev['db,1 "primary"'][15] == "1", "quoted hostname")
    check('"db,1 ""primary"""' in raw, "quotes doubled")
    # Outside quoted fields there is no bare LF.
    unq, inq = [], False
    for ch in raw:
        if ch == '"':
            inq = not inq
        elif not inq:
            unq.append(ch)
    check("\n" not in "".join(unq).replace("\r\n", ""), "no bare LF outside quotes")
    tot = {x[1]: (x[2], x[3]) for x in rows if x[0] == "total"}
    check(tot["escrowed"] == ("7", "87.5") and tot["devices"] == ("8", ""), "csv totals %r" % tot)
    td.ok("coverage: CSV is RFC 4180 (CRLF, quoting, one shape)")


def ctl_report():
    env = dict(os.environ, ESCROWCTL_SERVER=URL, ESCROWCTL_TOKEN=td.TOK["auditor"],
               HOME=os.path.join(td.WORK, "ctlhome"))
    os.makedirs(env["HOME"], exist_ok=True)
    ctl = os.environ["KE_ESCROWCTL"]

    def run(*args):
        return subprocess.run([ctl, "report", "coverage"] + list(args), env=env,
                              capture_output=True, text=True)

    out = run()
    check(out.returncode == 0, "table: %s" % out.stderr)
    check("Audit checkpoint: tree size" in out.stdout and "never-escrowed" in out.stdout and
          "escrowed " in out.stdout and "87.5%" in out.stdout, "table %s" % out.stdout[:800])
    out = run("--format", "json", "--group", "servers")
    check(out.returncode == 0 and json.loads(out.stdout)["totals"]["devices"] == 1, "json")
    out = subprocess.run([ctl, "report", "coverage", "--format", "csv", "--os", "rhel 9"],
                         env=env, capture_output=True)
    check(out.returncode == 0 and out.stdout.startswith(b"row,name,value,percent,") and
          b'"db,1 ""primary"""' in out.stdout and out.stdout.endswith(b"\r\n"), "csv")
    check(run("--format", "xml").returncode == 2, "bad format is a usage error")
    env["ESCROWCTL_TOKEN"] = td.TOK["helpdesk"]
    check(run().returncode == 5, "helpdesk is refused (exit 5)")
    td.ok("escrowctl report coverage: table, json, csv, refusals")


def attest():
    """escrowctl share attest: the custodian account's real share of the
    current key (k2) is accepted; another custodian's real share of that key
    is rejected by the server; a share of another key is refused."""
    idx = int(sql("SELECT custodian_index FROM users WHERE name = 'dev-custodian'"))
    c = report().json["custodians"]
    check(c["threshold"] == 2 and c["attested_90_days"] == 0 and c["warning"] and
          [x["index"] for x in c["shares"]] == [1, 2, 3] and
          all(x["last_attestation"] is None for x in c["shares"]), "no attestation yet %r" % c)
    env = dict(os.environ, ESCROWCTL_SERVER=URL, ESCROWCTL_TOKEN=td.TOK["custodian"],
               HOME=os.path.join(td.WORK, "ctlhome"))
    ctl = os.environ["KE_ESCROWCTL"]

    def run(key, i):
        d = os.path.join(td.WORK, "k%d" % key)
        return subprocess.run([ctl, "share", "attest", "--manifest",
                               os.path.join(d, "keys", "escrow-key.json"), "--share",
                               os.path.join(d, "keys", "custodian-%d.share.json" % i),
                               "--passphrase-file", os.path.join(d, "private", "pass%d" % i)],
                              env=env, capture_output=True, text=True)

    out = run(2, idx)
    check(out.returncode == 0 and out.stdout.startswith("ok: share %d of escrow key %s"
                                                        % (idx, td.fingerprint(2))),
          "a real share is accepted: %s %s" % (out.stdout, out.stderr))
    other = idx % 3 + 1
    out = run(2, other)
    check(out.returncode == 1 and "rejected the proof" in out.stderr,
          "another custodian's share is rejected by the server: %s" % out.stderr)
    out = run(1, idx)
    check(out.returncode == 1 and "current escrow key" in out.stderr,
          "a share of another key is refused: %s" % out.stderr)
    check(sql("SELECT count(*), min(share_index), min(user_name) FROM custodian_attestations")
          == "1|%d|dev-custodian" % idx, "one attestation stored")
    check(sql("SELECT count(*) FROM custodian_challenges WHERE used IS NOT NULL") == "2",
          "both proofs that reached the server used their challenge")
    ev = [e for e in td.audit_events() if e["action"] == "custodian.attest"]
    check(sorted(e["outcome"] for e in ev) == ["failure", "success"] and
          all(e["actor"] == "user:dev-custodian" for e in ev), "attempts audited %r" % ev)
    # The API directly: a used challenge, a malformed proof, roles.
    r = request(URL, "POST", "/v1/attestations/challenge", None, auth("custodian"))
    expect(r, 201, what="challenge")
    ch = r.json
    check(ch["index"] == idx and ch["fingerprint"] == td.fingerprint(2), "challenge %r" % ch)
    expect(request(URL, "POST", "/v1/attestations",
                   {"challenge_id": ch["challenge_id"], "proof": "AAAA"}, auth("custodian")),
           400, "bad_request", "malformed proof")
    used = int(sql("SELECT min(id) FROM custodian_challenges"))
    # well formed: P = G (compressed), c = s = 0x11..11
    bad = b64u(bytes.fromhex("036b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296")
               + b"\x11" * 64)
    expect(request(URL, "POST", "/v1/attestations", {"challenge_id": used, "proof": bad},
                   auth("custodian")), 409, "conflict", "a used challenge")
    expect(request(URL, "POST", "/v1/attestations/challenge", None, auth("auditor")), 403,
           what="challenge as auditor")
    # The report: this share's attestation, and the T + 1 warning.
    c = report().json["custodians"]
    mine = [x for x in c["shares"] if x["index"] == idx][0]
    check(mine["last_attestation"] and mine["by"] == "dev-custodian" and mine["within_90_days"]
          and c["attested_90_days"] == 1 and "only 1 of" in c["warning"], "report %r" % c)
    # Two more shares attested (constructed in SQL: one custodian account
    # exists) make T + 1 = 3; one of them 100 days old brings the warning back.
    fpr = td.fingerprint(2)
    for i in (1, 2, 3):
        if i != idx:
            sql("WITH c AS (INSERT INTO custodian_challenges (user_name, share_index, fingerprint,"
                " nonce, expires, used) VALUES ('c%d', %d, '%s', sha256('%d'), now() + interval"
                " '1 minute', now()) RETURNING id) INSERT INTO custodian_attestations"
                " (challenge_id, fingerprint, share_index, user_name) SELECT id, '%s', %d, 'c%d'"
                " FROM c" % (i, i, fpr, i, fpr, i, i), owner=True)
    c = report().json["custodians"]
    check(c["attested_90_days"] == 3 and c["warning"] is None, "T + 1 attested %r" % c)
    sql("ALTER TABLE custodian_attestations DISABLE TRIGGER custodian_attestations_no_update;"
        " UPDATE custodian_attestations SET created = now() - interval '100 days'"
        " WHERE user_name = 'c%d';"
        " ALTER TABLE custodian_attestations ENABLE TRIGGER custodian_attestations_no_update"
        % other, owner=True)
    c = report().json["custodians"]
    check(c["attested_90_days"] == 2 and c["warning"], "an old attestation does not count %r" % c)
    rows = list(csv.reader(io.StringIO(report("?format=csv").raw.decode(), newline="")))
    check(len([x for x in rows if x[0] == "custodian"]) == 3 and
          [x for x in rows if x[0] == "warning"], "custodians in the CSV")
    env["ESCROWCTL_TOKEN"] = td.TOK["auditor"]
    out = subprocess.run([ctl, "report", "coverage"], env=env, capture_output=True, text=True)
    check("WARNING: only 2 of" in out.stdout and "by dev-custodian" in out.stdout,
          "custodians in the table")
    td.ok("share attest: real share accepted, wrong share rejected, audited, in the report")


def retrievals(f):
    """escrowctl report retrievals --since.  Retrievals are constructed in
    SQL (the retrieval API's own tests drive escrowctl retrieve/approve);
    the rotation after a disclosure is a real upload by the agent."""
    cur = lambda a: sql("SELECT id FROM escrow_records WHERE device_id = '%s' AND state IN"  # noqa
                        " ('active', 'disclosed') ORDER BY volume_id LIMIT 1" % a.device)
    ids = {n: int(sql("SELECT id FROM users WHERE name = '%s'" % n))
           for n in ("dev-helpdesk", "dev-custodian", "dev-admin")}

    def retrieval(rid, rec, state, ticket, reason, parts=(), age="0 days"):
        closed = "now() - interval '%s'" % age if state != "pending" else "NULL"
        sql("INSERT INTO retrievals (id, record_id, requester_id, e_point, reason, ticket, nonce,"
            " signature, key_fpr, code, threshold, state, created, expires, closed) VALUES"
            " ('%s', '%s', %d, decode(repeat('02', 33), 'hex'), '%s', '%s', repeat('n', 22),"
            " decode(repeat('ab', 64), 'hex'), repeat('c', 64), 'ABCDEFGH', 2, '%s',"
            " now() - interval '%s' - interval '1 hour', now() + interval '1 day', %s)"
            % (rid, rec, ids["dev-helpdesk"], reason, ticket, state, age, closed), owner=True)
        for i, user in parts:
            sql("INSERT INTO retrieval_parts (retrieval_id, custodian_index, custodian_id, part)"
                " VALUES ('%s', %d, %d, decode(repeat('5a', 161), 'hex'))"
                % (rid, i, ids[user]), owner=True)

    r_done = "req-" + "a" * 26
    r_rot = "req-" + "b" * 26
    r_pend = "req-" + "c" * 26
    r_old = "req-" + "d" * 26
    retrieval(r_done, cur(f["disclosed"]), "completed", "INC-1, \"locked\"", "user locked out",
              [(1, "dev-custodian"), (2, "dev-admin")])
    rot_rec = cur(f["verified"])
    retrieval(r_rot, rot_rec, "completed", "INC-2", "tpm reset", [(3, "dev-custodian"),
                                                                  (1, "dev-admin")])
    sql("UPDATE escrow_records SET state = 'disclosed' WHERE id = '%s'" % rot_rec, owner=True)
    vol = sql("SELECT volume_id FROM escrow_records WHERE id = '%s'" % rot_rec)
    r, _ = f["verified"].escrow(vol, os.urandom(32), key_type="bitlocker" if vol == "C:" else "luks",
                                key_id="{22222222-0000-1111-2222-333344445555}" if vol == "C:"
                                else None)
    expect(r, 201, what="rotation upload")
    check(sql("SELECT state FROM escrow_records WHERE id = '%s'" % rot_rec) == "rotated",
          "the agent's upload rotated the disclosed record")
    retrieval(r_pend, cur(f["mismatch"]), "pending", "INC-3", "pending one")
    retrieval(r_old, cur(f["stale"]), "expired", "INC-0", "long ago", age="40 days")

    since = sql("SELECT to_char(now() - interval '7 days', 'YYYY-MM-DD')")
    r = request(URL, "GET", "/v1/reports/retrievals?since=" + since, headers=auth("auditor"))
    expect(r, 200, what="retrieval report")
    rows = {x["retrieval_id"]: x for x in r.json["retrievals"]}
    check(set(rows) == {r_done, r_rot, r_pend}, "since filters: %r" % sorted(rows))
    d = rows[r_done]
    check(d["requester"] == "dev-helpdesk" and d["device_id"] == f["disclosed"].device and
          d["hostname"] == "disclosed" and d["reason"] == "user locked out" and
          d["ticket"] == 'INC-1, "locked"' and d["state"] == "completed" and d["completed"] and
          d["custodians"] == [{"index": 1, "name": "dev-custodian"},
                              {"index": 2, "name": "dev-admin"}] and
          d["rotation"] == "not_rotated" and d["rotated_at"] is None, "completed %r" % d)
    d = rows[r_rot]
    check(d["rotation"] == "rotated" and d["rotated_at"] and
          [c["index"] for c in d["custodians"]] == [1, 3], "rotated %r" % d)
    d = rows[r_pend]
    check(d["state"] == "pending" and d["completed"] is None and d["custodians"] == [] and
          d["rotation"] is None, "pending %r" % d)
    a = r.json["audit"]
    note_verify.verify_checkpoint(a["checkpoint"].encode(), td.log_vkey())
    check(td.leaf_at(a["leaf_index"])["action"] == "report.retrievals", "audited at its leaf")
    for q in ("", "?since=2026-02-30", "?since=yesterday", "?since=2026-01-01T00:00:00",
              "?since=2026-01-01&format=xml"):
        expect(request(URL, "GET", "/v1/reports/retrievals" + q, headers=auth("auditor")), 400,
               "bad_request", "retrievals query %s" % q)
    expect(request(URL, "GET", "/v1/reports/retrievals?since=" + since,
                   headers=auth("helpdesk")), 403, what="retrieval report as helpdesk")
    r = request(URL, "GET", "/v1/reports/retrievals?format=csv&since=" + since,
                headers=auth("auditor"))
    raw = r.raw.decode()
    rows = list(csv.reader(io.StringIO(raw, newline=""), strict=True))
    check(raw.endswith("\r\n") and all(len(x) == 15 for x in rows) and rows[1][0] == "audit"
          and len(rows) == 5 and '"INC-1, ""locked"""' in raw, "retrievals CSV %r" % rows[:3])
    env = dict(os.environ, ESCROWCTL_SERVER=URL, ESCROWCTL_TOKEN=td.TOK["auditor"],
               HOME=os.path.join(td.WORK, "ctlhome"))
    out = subprocess.run([os.environ["KE_ESCROWCTL"], "report", "retrievals", "--since", since],
                         env=env, capture_output=True, text=True)
    check(out.returncode == 0 and r_done in out.stdout and "1:dev-custodian,2:dev-admin"
          in out.stdout and "not_rotated" in out.stdout and r_old not in out.stdout,
          "escrowctl report retrievals: %r %s" % (out.stdout[:1500], out.stderr))
    td.ok("report retrievals: who, device, reason, ticket, custodians, completion, rotation")


def main():
    f = build_fleet()
    json_report(f)
    csv_report()
    ctl_report()
    attest()
    retrievals(f)
    td.ok("reports: %d checks" % td.CHECKS)


if __name__ == "__main__":
    main()
