#!/usr/bin/env bash
# The audit log end to end, on a private database: events from real
# requests, their leaves and tree checked by an independent implementation
# (t_audit_check.py) and the checkpoint by the independent note verifier;
# inclusion and consistency proofs for many pairs; strict parameters and
# roles; escrowctl audit verify on an honest log and after single-row
# edits by the superuser (it names the index); export; privileges of the
# application role; the log key file; the syslog copy.
. "$(dirname "$0")/lib.sh"
load_fixture
. "$HERE/t_audit_lib.sh"
aud_db

start_aud a
U=http://127.0.0.1:$PORT_a
[ "$(stat -c %a "$AKEY")" = 600 ] || fail "key file mode $(stat -c %a "$AKEY")"
VK=$(vkey_of "$U")
case $VK in test.keyescrow.example/audit+*) ;; *) fail "verifier key $VK" ;; esac
AUD=$(mint_token_for auditor1 auditor)
ADM=$(mint_token_for admin1 admin)
ok "log key created 0600 and published: $VK"

# ---- events, leaves, root, checkpoint --------------------------------------
events "$U" 150 8 ev
[ "$(sort -n "$TW/indices.ev" | uniq | wc -l)" = 150 ] || fail "leaf indices of requests are not distinct"
python3 "$CHECK" log "$U" "$AUD" "$VK" --min-size 151 --tmp "$TW" >"$TW/log.json" || fail "log check"
python3 - "$TW/log.json" "$TW/indices.ev" <<'PY' || fail "log content: $(cat "$TW/log.json")"
import json, sys
s = json.load(open(sys.argv[1]))
idx = [int(x) for x in open(sys.argv[2])]
assert s["actions"].get("test.event") == 150, s
assert s["actions"].get("server.start", 0) >= 1, s
assert max(idx) < s["size"], (max(idx), s)
PY
ok "150 concurrent audited requests: canonical leaves, seq = index, root and checkpoint verify independently"

python3 "$CHECK" proofs "$U" "$AUD" --random 150 >"$TW/proofs.out" || fail "proofs: $(cat "$TW/proofs.out")"
ok "$(tail -n1 "$TW/proofs.out")"

# ---- parameters and roles ---------------------------------------------------
SIZE=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["size"])' "$TW/log.json")
bad() {  # PATH STATUS CODE [TOKEN]
  local auth=()
  [ -n "${4:-}" ] && auth=(-H "Authorization: Bearer $4")
  http GET "$U$1" "${auth[@]}"
  expect_status "$2" "GET $1"
  expect_error "$3" "GET $1"
}
bad "/v1/audit/entries" 400 bad_request "$AUD"
for v in abc 01 -1 1.0 '' 99999999999999999 9007199254740992; do
  bad "/v1/audit/entries?start=$v" 400 bad_request "$AUD"
done
bad "/v1/audit/entries?start=5&end=5" 400 bad_request "$AUD"
bad "/v1/audit/entries?start=$((SIZE + 1))" 404 beyond_tree "$AUD"
bad "/v1/audit/proof/inclusion?index=3" 400 bad_request
bad "/v1/audit/proof/inclusion?index=5&size=5" 400 bad_request
bad "/v1/audit/proof/inclusion?index=0&size=x" 400 bad_request
bad "/v1/audit/proof/inclusion?index=0&size=$((SIZE + 1))" 404 beyond_tree
bad "/v1/audit/proof/consistency?from=3&to=2" 400 bad_request
bad "/v1/audit/proof/consistency?from=0&to=$((SIZE + 100))" 404 beyond_tree
bad "/v1/audit/checkpoint?fresh=2" 400 bad_request
bad "/v1/audit/checkpoint?format=json" 400 bad_request
http GET "$U/v1/audit/entries?start=$SIZE" -H "Authorization: Bearer $AUD"
expect_status 200 "entries at the end"
[ "$(json_get entries)" = "[]" ] || fail "entries at the end are not empty"
http GET "$U/v1/audit/entries?start=0&end=5000" -H "Authorization: Bearer $AUD"
python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); assert b["end"] == min(1000, b["tree_size"]) == len(b["entries"]), b["end"]' "$BODYF" || fail "page not capped"
bad "/v1/audit/entries?start=0" 401 unauthorized
bad "/v1/audit/entries?start=0" 403 forbidden "$ADM"
for p in "/v1/audit/checkpoint" "/v1/audit/key" "/v1/audit/proof/inclusion?index=0&size=1" \
         "/v1/audit/proof/consistency?from=1&to=2"; do
  http GET "$U$p"
  expect_status 200 "public $p"
done
http GET "$U/v1/audit/checkpoint?format=note"
expect_header '^Content-Type: text/plain' "note format"
ok "bad parameters: 400/404 JSON; entries need the auditor role; proofs, key and checkpoint are public"

# ---- escrowctl audit verify --------------------------------------------------
export HOME=$TW/home ESCROWCTL_SERVER=$U ESCROWCTL_TOKEN=$AUD
unset XDG_CONFIG_HOME ESCROWCTL_LOG_KEY ESCROWCTL_CACERT
mkdir -p "$HOME"
ctl() { "$KE_ESCROWCTL" audit "$@" >"$TW/ctl.out" 2>&1; }
rc=0; ctl verify || rc=$?
[ $rc -eq 2 ] && grep -q 'no pinned log key' "$TW/ctl.out" || fail "verify without a key ($rc): $(cat "$TW/ctl.out")"
rc=0; ctl verify --log-key 'escrow.example.org/audit+f60e6d1e+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4' || rc=$?
[ $rc -eq 1 ] && grep -q 'does not verify with the pinned log key' "$TW/ctl.out" || fail "verify with another key ($rc): $(cat "$TW/ctl.out")"
ctl verify --log-key "$VK" --save || fail "verify on an honest log: $(cat "$TW/ctl.out")"
CFG=$HOME/.config/escrowctl
[ "$(stat -c %a "$CFG/audit-checkpoint")" = 600 ] && [ "$(stat -c %a "$CFG/audit-log-key")" = 600 ] ||
  fail "witness files not 0600"
grep -qx "$VK" "$CFG/audit-log-key" || fail "pinned key"
events "$U" 20 4 more
ctl verify || fail "verify with the pinned key and the saved checkpoint: $(cat "$TW/ctl.out")"
grep -q "extends the saved checkpoint of size" "$TW/ctl.out" || fail "no consistency with the saved checkpoint: $(cat "$TW/ctl.out")"
ctl verify --save || fail "second --save"
N=$(app_q -c "SELECT size FROM audit_head")
ok "escrowctl audit verify passes on an honest log of $N entries, pins the key, saves the checkpoint"

K=$((37 + RANDOM % 100))
orig=$(own_q -c "SELECT encode(leaf, 'hex') || ' ' || encode(leaf_hash, 'hex') FROM audit_log WHERE seq = $K")
set -- $orig
LEAF_HEX=$1 HASH_HEX=$2
expect_bad() {  # INDEX what
  rc=0; ctl verify || rc=$?
  [ $rc -eq 1 ] || fail "verify passed after $2 ($rc): $(cat "$TW/ctl.out")"
  grep -q "first bad index $1 " "$TW/ctl.out" || fail "verify did not name index $1 after $2: $(cat "$TW/ctl.out")"
}
# One changed byte of one leaf (the actor), leaf_hash left alone.
maint_q -c "UPDATE audit_log SET leaf = convert_to(replace(convert_from(leaf, 'UTF8'),
            '\"actor\":\"', '\"actor\":\"x'), 'UTF8') WHERE seq = $K"
expect_bad $K "editing leaf $K"
# The same with its leaf_hash recomputed to match.
maint_q -c "UPDATE audit_log SET leaf_hash = sha256('\\x00'::bytea || leaf) WHERE seq = $K"
expect_bad $K "editing leaf $K and its hash"
# Not canonical, same content.
maint_q -c "UPDATE audit_log SET leaf = convert_to(replace(convert_from('\\x$LEAF_HEX'::bytea, 'UTF8'),
            '\"action\":', '\"action\": '), 'UTF8') WHERE seq = $K"
expect_bad $K "a non-canonical leaf $K"
# Deleted.
maint_q -c "DELETE FROM audit_log WHERE seq = $K"
expect_bad $K "deleting leaf $K"
# Restored: verifies again (and the server never stopped signing).
own_q -c "INSERT INTO audit_log (seq, leaf, leaf_hash, created)
          VALUES ($K, '\\x$LEAF_HEX', '\\x$HASH_HEX', now())"
ctl verify || fail "verify after restoring the row: $(cat "$TW/ctl.out")"
# A later leaf changed: named, not an earlier one.
L=$((N - 1))
LEAF_L=$(own_q -c "SELECT encode(leaf, 'hex') FROM audit_log WHERE seq = $L")
maint_q -c "UPDATE audit_log SET leaf = convert_to(replace(convert_from(leaf, 'UTF8'),
            '\"outcome\":\"success\"', '\"outcome\":\"failure\"'), 'UTF8') WHERE seq = $L"
expect_bad $L "editing the last leaf $L"
maint_q -c "UPDATE audit_log SET leaf = '\\x$LEAF_L' WHERE seq = $L"
ctl verify || fail "verify after restoring leaf $L: $(cat "$TW/ctl.out")"
ok "verify fails naming the index after a superuser edits, re-hashes, respaces or deletes one row"

# ---- export ------------------------------------------------------------------
rc=0; "$KE_ESCROWCTL" audit export --format jsonl --out "$TW/all.jsonl" 2>"$TW/exp.err" || rc=$?
[ $rc -eq 0 ] || fail "export ($rc): $(cat "$TW/exp.err")"
[ "$(stat -c %a "$TW/all.jsonl")" = 600 ] || fail "export file mode"
rc=0; "$KE_ESCROWCTL" audit export --format jsonl --out "$TW/all.jsonl" 2>"$TW/exp.err" || rc=$?
[ $rc -eq 1 ] && grep -q 'cannot create' "$TW/exp.err" || fail "export replaced an existing file"
"$KE_ESCROWCTL" audit export --format csv --since 100 >"$TW/since.csv" 2>"$TW/exp.err" ||
  fail "export --since 100: $(cat "$TW/exp.err")"
"$KE_ESCROWCTL" audit export --format jsonl --since 2999-01-01T00:00:00Z >"$TW/none.jsonl" 2>"$TW/exp.err" ||
  fail "export --since TIME: $(cat "$TW/exp.err")"
"$KE_ESCROWCTL" audit export --format csv --since 2000-01-01T00:00:00Z >"$TW/time.csv" 2>"$TW/exp.err" ||
  fail "export --since TIME: $(cat "$TW/exp.err")"
rc=0; "$KE_ESCROWCTL" audit export --format xml >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "export --format xml ($rc)"
python3 - "$ADB_APP" "$TW" <<'PY' || fail "export content"
import csv, io, json, subprocess, sys
dsn, tw, bad = sys.argv[1], sys.argv[2], -1
rows = subprocess.run(["psql", "-X", "-At", dsn, "-c",
                       "SELECT seq, encode(leaf, 'hex') FROM audit_log ORDER BY seq"],
                      capture_output=True, text=True, check=True).stdout.split()
leaves = {int(r.split("|")[0]): bytes.fromhex(r.split("|")[1]) for r in rows}
good = [leaves[i] for i in sorted(leaves) if i != bad]
lines = open(tw + "/all.jsonl", "rb").read().split(b"\n")
assert lines[-1] == b"" and lines[:-1] == good, "jsonl differs from the leaves"
assert open(tw + "/none.jsonl", "rb").read() == b"", "--since a future time exported something"
for name, first in (("since.csv", 100), ("time.csv", 0)):
    raw = open(tw + "/" + name, "rb").read()
    assert raw.count(b"\r\n") == raw.count(b"\n"), "CSV lines must end in CRLF"
    recs = list(csv.reader(io.StringIO(raw.decode(), newline="")))
    assert recs[0] == ["seq", "time", "actor", "action", "outcome", "object", "src",
                       "request_id", "details"], recs[0]
    want = [i for i in sorted(leaves) if i >= first and i != bad]
    assert [int(r[0]) for r in recs[1:]] == want, (name, len(recs))
    for r in recs[1:]:
        ev = json.loads(leaves[int(r[0])])
        assert r[1:8] == [ev["time"], ev["actor"], ev["action"], ev["outcome"],
                          ev.get("object") or "", ev.get("src") or "", ev["request_id"]], r
        if "details" in ev:
            assert json.loads(r[8]) == ev["details"], r
PY
ok "export: jsonl is the leaves byte for byte; RFC 4180 CSV; --since INDEX and TIME; never clobbers"

# ---- privileges --------------------------------------------------------------
denied() {  # SQL
  local out
  out=$(app_q -c "$1" 2>&1) && fail "the application role could run: $1"
  echo "$out" | grep -Eq 'permission denied|must be owner' || fail "unexpected error for '$1': $out"
}
for sql in "UPDATE audit_log SET leaf = leaf" "UPDATE audit_tree SET hash = hash" \
           "UPDATE audit_checkpoints SET note = note" "DELETE FROM audit_log" "DELETE FROM audit_tree" \
           "DELETE FROM audit_checkpoints" "TRUNCATE audit_log" "TRUNCATE audit_tree" \
           "TRUNCATE audit_checkpoints" "UPDATE audit_head SET size = 0" "DELETE FROM audit_queue" \
           "UPDATE audit_queue SET leaf_head = leaf_head" "TRUNCATE audit_queue" \
           "INSERT INTO audit_log (seq, leaf, leaf_hash) VALUES (100000, '\\x7b7d', sha256('x'))" \
           "INSERT INTO audit_tree (level, idx, hash) VALUES (0, 100000, sha256('x'))" \
           "SELECT * FROM keyescrow_audit_move(10)"; do
  denied "$sql"
done
out=$(app_q -c "BEGIN ISOLATION LEVEL SERIALIZABLE" -c "SELECT * FROM keyescrow_audit_sequence(10)" 2>&1) &&
  fail "the sequencer ran in SERIALIZABLE"
echo "$out" | grep -q 'READ COMMITTED' || fail "sequencer in SERIALIZABLE: $out"
for t in audit_tree audit_checkpoints; do
  out=$(own_q -c "DELETE FROM $t" 2>&1) && fail "the owner could delete from $t"
  echo "$out" | grep -q 'append-only' || fail "owner on $t: $out"
done
ok "the application role cannot UPDATE, DELETE or TRUNCATE the log, its tree or checkpoints, nor bypass the sequencer"

# Every stored checkpoint verifies with the independent verifier.
n=0
for sz in $(app_q -c "SELECT tree_size FROM audit_checkpoints ORDER BY tree_size"); do
  app_q -c "SELECT note FROM audit_checkpoints WHERE tree_size = $sz" >"$TW/cp.txt"
  # psql -A adds one newline after the value, which ends in one already
  python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); open(sys.argv[1],"wb").write(d[:-1])' "$TW/cp.txt"
  python3 "$KE_SRC/tests/audit/note_verify.py" verify-checkpoint --vkey "$VK" "$TW/cp.txt" >/dev/null ||
    fail "stored checkpoint of size $sz does not verify"
  n=$((n + 1))
done
[ $n -ge 2 ] || fail "only $n checkpoints stored"
ok "$n stored checkpoints verify with tests/audit/note_verify.py"

# ---- the key file --------------------------------------------------------------
rc=0; env ESCROWD_CONFIG=/dev/null ESCROWD_SCHEMA_DIR="$KE_SRC/schema" ESCROWD_DB_DSN="$ADB_APP" \
  ESCROWD_AUDIT_KEY_FILE="$AKEY" ESCROWD_AUDIT_ORIGIN=other.example/audit ESCROWD_PORT=0 \
  "$KE_ESCROWD" serve >"$TW/origin.log" 2>&1 || rc=$?
[ $rc -eq 2 ] && grep -q 'named for another' "$TW/origin.log" || fail "key of another origin accepted ($rc)"
chmod 644 "$AKEY"
rc=0; env ESCROWD_CONFIG=/dev/null ESCROWD_SCHEMA_DIR="$KE_SRC/schema" ESCROWD_DB_DSN="$ADB_APP" \
  ESCROWD_AUDIT_KEY_FILE="$AKEY" ESCROWD_AUDIT_ORIGIN=test.keyescrow.example/audit ESCROWD_PORT=0 \
  "$KE_ESCROWD" serve >"$TW/mode.log" 2>&1 || rc=$?
chmod 600 "$AKEY"
[ $rc -eq 2 ] && grep -q 'cannot load or create the audit log key' "$TW/mode.log" || fail "key file 0644 accepted ($rc)"
ok "a key file of another origin or readable by others is refused (exit 2)"

# ---- syslog ------------------------------------------------------------------
stop_daemon a
PORT_UDP=$(python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 "$CHECK" udp-collect "$PORT_UDP" "$TW/syslog.txt" 11 20 &
udp=$!
for i in $(seq 1 50); do [ -f "$TW/syslog.txt.ready" ] && break; sleep 0.1; done
start_aud b ESCROWD_AUDIT_SYSLOG=udp:127.0.0.1:$PORT_UDP
events "http://127.0.0.1:$PORT_b" 10 2 sys
wait $udp || fail "udp collector"
python3 - "$TW/syslog.txt" "$ADB_APP" <<'PY' || fail "syslog lines: $(head -c 600 "$TW/syslog.txt")"
import json, re, subprocess, sys
lines = open(sys.argv[1], "rb").read().decode().splitlines()
rx = re.compile(r"^<(\d+)>1 (\S+) (\S+) escrowd (\d+) audit - (\{.*\})$")
evs = []
for l in lines:
    m = rx.match(l)
    assert m, l
    ev = json.loads(m.group(5))
    assert int(m.group(1)) == 13 * 8 + (5 if ev["outcome"] == "success" else 4), l
    assert m.group(2) == ev["time"], l
    leaf = subprocess.run(["psql", "-X", "-At", sys.argv[2], "-c",
                           "SELECT convert_from(leaf, 'UTF8') FROM audit_log WHERE seq = %d" % ev["seq"]],
                          capture_output=True, text=True, check=True).stdout.rstrip("\n")
    assert leaf == m.group(5), (leaf, l)
    evs.append(ev["action"])
assert evs.count("test.event") == 10, evs
PY
stop_daemon b
[ "$(app_q -c 'SELECT count(*) FROM audit_queue')" = 0 ] || fail "events left queued after a clean stop"
[ "$(app_q -c 'SELECT size FROM audit_head')" = "$(app_q -c 'SELECT max(tree_size) FROM audit_checkpoints')" ] ||
  fail "the last checkpoint does not cover the server.stop event"
ok "syslog: each event once as RFC 5424 JSON (facility log audit); a clean stop leaves nothing queued or unsigned"
