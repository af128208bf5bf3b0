#!/usr/bin/env bash
# Several escrowd instances on one database append events at once: one
# consistent tree without gaps or duplicates.  Also: events committed by an
# instance that never sequenced them (queued rows, and an instance killed
# with SIGKILL under load) are sequenced by the others; every checkpoint
# that any instance signed verifies and is consistent with the next.
. "$(dirname "$0")/lib.sh"
load_fixture
. "$HERE/t_audit_lib.sh"
aud_db

start_aud a
start_aud b
UA=http://127.0.0.1:$PORT_a
UB=http://127.0.0.1:$PORT_b
VK=$(vkey_of "$UA")
[ "$(vkey_of "$UB")" = "$VK" ] || fail "the two instances publish different keys"
AUD=$(mint_token_for auditor1 auditor)

# Events committed by a process that died before sequencing them: rows in
# the queue that no request will ever ask about.
app_q -c "INSERT INTO audit_queue (leaf_head, leaf_tail)
  SELECT convert_to('{\"action\":\"test.orphan\",\"actor\":\"system\",\"object\":\"o:' || g ||
                    '\",\"outcome\":\"success\",\"request_id\":\"orphan' || g || '\"', 'UTF8'),
         convert_to('\"src\":null,\"time\":\"2024-01-01T00:00:00.000Z\"}', 'UTF8')
    FROM generate_series(1, 50) g" >/dev/null

# Both instances under concurrent load, a third killed in the middle of it.
start_aud c
UC=http://127.0.0.1:$PORT_c
events "$UA" 250 8 a &
pa=$!
events "$UB" 250 8 b &
pb=$!
seq 1 400 | xargs -P 8 -I{} curl -s -o /dev/null --max-time 10 -H 'Content-Type: application/json' \
  --data '{"object":"c:{}"}' "$UC/test/audit" &
pc=$!
sleep 0.7
kill -KILL "$(daemon_pid c)"
wait $pa || fail "requests to instance a failed"
wait $pb || fail "requests to instance b failed"
wait $pc || true
[ "$(wait_exit c 10)" = 137 ] || fail "instance c was not killed"
ok "500 requests on two instances while a third was killed under load"

# The survivors' background sequencers take whatever c left queued.
for i in $(seq 1 100); do
  [ "$(app_q -c 'SELECT count(*) FROM audit_queue')" = 0 ] && break
  sleep 0.1
done
[ "$(app_q -c 'SELECT count(*) FROM audit_queue')" = 0 ] || fail "events stay queued"
python3 "$CHECK" log "$UB" "$AUD" "$VK" --min-size 553 --tmp "$TW" >"$TW/log.json" || fail "log check"
python3 - "$TW/log.json" "$TW/indices.a" "$TW/indices.b" "$ADB_APP" <<'PY' || fail "one tree: $(cat "$TW/log.json")"
import json, subprocess, sys
s = json.load(open(sys.argv[1]))
idx = [int(x) for f in sys.argv[2:4] for x in open(f)]
assert len(idx) == 500 and len(set(idx)) == 500, "leaf indices of requests repeat"
assert max(idx) < s["size"], (max(idx), s["size"])
q = lambda sql: subprocess.run(["psql", "-X", "-At", sys.argv[4], "-c", sql], capture_output=True,
                               text=True, check=True).stdout.strip()
n, lo, hi, distinct = q("SELECT count(*), min(seq), max(seq), count(DISTINCT queue_id) FROM audit_log").split("|")
assert int(n) == s["size"] and int(lo) == 0 and int(hi) == int(n) - 1 == int(distinct) - 1, (n, lo, hi, distinct)
assert int(q("SELECT size FROM audit_head")) == int(n)
a = s["actions"]
assert a.get("test.orphan") == 50, a
assert a.get("test.event", 0) >= 500, a
assert a.get("server.start") == 3, a
print("tree of %d leaves: %d request events (%d via the killed instance), 50 orphans"
      % (int(n), a["test.event"], a["test.event"] - 500))
PY
ok "one gap-free tree (seq 0..n-1, no duplicates), root verified independently"

# Every checkpoint (signed by a or b, or by c before it died) verifies, and
# each is consistent with the next one.
app_q -c "SELECT tree_size || ' ' || replace(encode(convert_to(note, 'UTF8'), 'base64'), E'\\n', '')
          FROM audit_checkpoints ORDER BY tree_size" >"$TW/cps.txt"
python3 - "$TW/cps.txt" "$UA" "$VK" "$HERE" "$KE_SRC" <<'PY' || fail "checkpoint chain"
import base64, subprocess, sys, tempfile
sys.path.insert(0, sys.argv[4])
import t_audit_check as t
cps = []
for line in open(sys.argv[1]):
    if not line.strip():
        continue
    size, b64 = line.split(" ", 1)
    note = base64.b64decode(b64)
    with tempfile.NamedTemporaryFile() as f:
        f.write(note)
        f.flush()
        out = subprocess.run([sys.executable, sys.argv[5] + "/tests/audit/note_verify.py",
                              "verify-checkpoint", "--vkey", sys.argv[3], f.name],
                             capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    fields = dict(l.split(None, 1) for l in out.stdout.splitlines())
    assert int(fields["size"]) == int(size)
    cps.append((int(size), bytes.fromhex(fields["root"])))
assert len(cps) >= 2, cps
for (m, rm), (n, rn) in zip(cps, cps[1:]):
    p = t.b64list(t.get_json(sys.argv[2], "/v1/audit/proof/consistency?from=%d&to=%d" % (m, n))
                  ["consistency_path"])
    assert t.verify_consistency(m, n, rm, rn, p), (m, n)
print(len(cps))
PY
ok "every stored checkpoint verifies and each is consistent with the next"

export HOME=$TW/home ESCROWCTL_SERVER=$UA ESCROWCTL_TOKEN=$AUD
unset XDG_CONFIG_HOME ESCROWCTL_LOG_KEY ESCROWCTL_CACERT
mkdir -p "$HOME"
"$KE_ESCROWCTL" audit verify --log-key "$VK" >"$TW/ctl.out" 2>&1 || fail "escrowctl audit verify: $(cat "$TW/ctl.out")"
stop_daemon a
stop_daemon b
ok "escrowctl audit verify passes; both instances stop cleanly"
