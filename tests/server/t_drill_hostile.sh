#!/usr/bin/env bash
# t_drill_hostile.sh - the hostile server of issue 11 finding 1: whoever
# holds the database (here: psql as the owner role on the test's private
# database) tries to make custodians answer a drill that is not the
# auditor's.  `escrowctl drill approve` must give no part, online or
# offline (--export, then drill part), and no row may appear in
# drill_parts:
#   - a drill of the real auditor whose one-time key E is swapped for a
#     foreign one (another drill's), in the database and in a drill file
#   - an auditor key the custodian never pinned (the full fingerprint and
#     the pin command are printed), and a drill signed by another key under
#     the real auditor's name (loud refusal naming both fingerprints),
#     online and in a drill file
#   - a record whose envelope (so its R) is not the one its escrow event in
#     the log names, and a record with no escrow event at all, both in a
#     snapshot the honest auditor signed
#   - an unsigned drill (the server refuses its parts too, and those of an
#     expired one)
#   - a forked log view: the custodian's saved checkpoint is from another
#     history under the same log key (a second escrowd on another database
#     sharing the key): refused, naming both tree sizes
# and the honest drill still passes end to end.
set -euo pipefail
. "$KE_SRC/tests/server/lib.sh"
. "$KE_SRC/tests/server/t_auth_lib.sh"
. "$KE_SRC/tests/server/t_drill_lib.sh"
TEST_NAME=drill_hostile
ESCROWCTL=$KE_ESCROWCTL

load_fixture
make_private_db
DB2=""
drop_all() {
  drop_private_db
  [ -z "$DB2" ] || "$PGLOCAL" psql --dir "$FIX_VAR" admin -q -c "DROP DATABASE IF EXISTS $DB2" >/dev/null 2>&1 || true
}
trap 'rc=$?; drop_all; (exit $rc); cleanup_test' EXIT
start_private main
drill_env
own() { app_psql "$PRIV_OWN_DSN" -c "$1" >/dev/null; }
drill_keys 2 3
mint_user "$PRIV_APP_DSN" mallory auditor
MAL=$(mint_token "$PRIV_APP_DSN" mallory)
ENROLL=$(ESCROWCTL_TOKEN=$ADMIN "$ESCROWCTL" enroll-token create --group lab --uses 10 --expires 1h 2>"$W/ctl.err") ||
  fail "enroll-token create: $(cat "$W/ctl.err")"
python3 "$KE_SRC/tests/server/t_drill_fleet.py" "$URL" "$ENROLL" 4 "$W" >"$W/fleet.log" 2>&1 ||
  fail "fleet: $(cat "$W/fleet.log")"

# The auditor's and mallory's client keys (separate homes: separate keys).
aud() { ESCROWCTL_TOKEN=$AUD HOME=$W/aud "$ESCROWCTL" "$@"; }
mal() { ESCROWCTL_TOKEN=$MAL HOME=$W/mal "$ESCROWCTL" "$@"; }
mkdir -p "$W/aud" "$W/mal"
aud key register >/dev/null 2>&1 || fail "aud1 key register"
mal key register >/dev/null 2>&1 || fail "mallory key register"
AFPR=$(aud key show | head -n1)
MFPR=$(mal key show | head -n1)
"$ESCROWCTL" pin add aud1 "$AFPR" >/dev/null || fail "pin add"

# approve HOME I DRILL [args]: sets RC, output in $W/out
approve() {
  local home=$1 i=$2 d=$3; shift 3
  set +e
  ESCROWCTL_TOKEN=${CT[$i]} HOME=$home "$ESCROWCTL" drill approve "$d" \
    --share "$KD/custodian-$i.share.json" --passphrase-file "$KD.pass/$i" --yes "$@" >"$W/out" 2>&1
  RC=$?
  set -e
}
export_drill() {  # HOME I DRILL FILE: sets RC
  local home=$1 i=$2 d=$3 f=$4
  set +e
  ESCROWCTL_TOKEN=${CT[$i]} HOME=$home "$ESCROWCTL" drill approve "$d" --export "$f" >"$W/out" 2>&1
  RC=$?
  set -e
}
OFF=$W/off
mkdir -p "$OFF"
offline() { env -u ESCROWCTL_SERVER -u ESCROWCTL_TOKEN -u ESCROWCTL_LOG_KEY HOME="$OFF" "$ESCROWCTL" "$@"; }
offline pin add aud1 "$AFPR" >/dev/null || fail "offline pin add"
dpart() {  # DRILLFILE OUT: sets RC, output in $W/out
  set +e
  offline drill part --drill "$1" --share "$KD/custodian-3.share.json" \
    --passphrase-file "$KD.pass/3" --yes --out "$2" >"$W/out" 2>&1
  RC=$?
  set -e
}
noparts() {  # DRILL what
  [ "$(sql "SELECT count(*) FROM drill_parts WHERE drill_id = '$1'")" = 0 ] ||
    fail "$2: a part reached drill_parts"
}
refused() {  # PATTERN what (after approve/export/dpart)
  [ "$RC" = 1 ] && grep -q -- "$1" "$W/out" || fail "$2: exit $RC, $(cat "$W/out")"
  ! grep -q "part(s) of custodian" "$W/out" || fail "$2: parts were made"
}

# ---- an honest drill of the real auditor: the drill file, then a foreign E
D1=$(aud drill start --all --key-out "$W/d1.key" 2>"$W/start.err") || fail "start: $(cat "$W/start.err")"
M=$(mal drill start --all --key-out "$W/m.key" 2>"$W/start.err") || fail "mallory start: $(cat "$W/start.err")"
export_drill "$W" 1 "$D1" "$W/d1.json"
[ "$RC" = 0 ] || fail "honest export: $(cat "$W/out")"
# The unknown key first: a custodian who pinned nothing.
mkdir -p "$W/nopin"
approve "$W/nopin" 1 "$D1"
refused "escrowctl pin add aud1 $AFPR" "unknown auditor key"
grep -q "fingerprint $AFPR" "$W/out" || fail "the full fingerprint is not shown: $(cat "$W/out")"
export_drill "$W/nopin" 1 "$D1" "$W/nopin.json"
refused "have not pinned" "unknown auditor key, export"
[ ! -e "$W/nopin.json" ] || fail "a drill file for an unpinned key"
ok "a drill signed by a key the custodian never pinned: refused with its fingerprint and the pin command"

own "UPDATE drills SET e_point = (SELECT e_point FROM drills WHERE id = '$M') WHERE id = '$D1'"
approve "$W" 1 "$D1"
refused "signature does not verify" "foreign E online"
export_drill "$W" 2 "$D1" "$W/d1-foreign.json"
refused "signature does not verify" "foreign E, export"
[ ! -e "$W/d1-foreign.json" ] || fail "a drill file with a foreign E"
# The drill file edited on the way to the offline machine: E alone, and E
# with the statement's E line (then the auditor's signature fails).
python3 - "$W/d1.json" "$W" "$(sql "SELECT translate(encode(e_point, 'base64'), '+/=', '-_') FROM drills WHERE id = '$M'")" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); e = sys.argv[3]
t = dict(d); t["E"] = e
json.dump(t, open(sys.argv[2] + "/file-e.json", "w"))
t = dict(d); t["E"] = e
t["statement"] = "".join(("E=%s\n" % e) if l.startswith("E=") else l + "\n" for l in d["statement"].splitlines())
json.dump(t, open(sys.argv[2] + "/file-es.json", "w"))
PY
dpart "$W/file-e.json" "$W/b1.json"
refused 'field "statement"' "foreign E in the drill file"
dpart "$W/file-es.json" "$W/b2.json"
refused 'field "signature"' "foreign E and statement in the drill file"
[ ! -e "$W/b1.json" ] && [ ! -e "$W/b2.json" ] || fail "a batch for a foreign E"
noparts "$D1" "foreign E"
rc=0; aud drill run "$D1" --key "$W/d1.key" >"$W/out" 2>&1 || rc=$?
[ $rc = 1 ] && grep -q "one-time key is not the one" "$W/out" || fail "the auditor ran a foreign E: $rc $(cat "$W/out")"
ok "a foreign E in the auditor's drill: no part online, at export or from drill part"

# ---- another key under the real auditor's name
own "UPDATE drills SET auditor_id = (SELECT id FROM users WHERE name = 'aud1') WHERE id = '$M'"
approve "$W" 1 "$M"
refused "THE AUDITOR'S KEY HAS CHANGED" "changed key online"
grep -q "$MFPR" "$W/out" && grep -q "$AFPR" "$W/out" || fail "both fingerprints: $(cat "$W/out")"
# An accomplice's machine that pinned mallory's key as aud1 exports it; the
# offline custodian, who pinned the real one, refuses the file.
mkdir -p "$W/acc"
HOME=$W/acc "$ESCROWCTL" pin add aud1 "$MFPR" >/dev/null
export_drill "$W/acc" 2 "$M" "$W/m.json"
[ "$RC" = 0 ] || fail "accomplice export: $(cat "$W/out")"
dpart "$W/m.json" "$W/b3.json"
refused "THE AUDITOR'S KEY HAS CHANGED" "changed key offline"
grep -q "$MFPR" "$W/out" && grep -q "$AFPR" "$W/out" || fail "both fingerprints offline: $(cat "$W/out")"
noparts "$M" "changed key"
ok "a drill signed by another key in the auditor's name: loud refusal naming both, online and offline"

# ---- R outside the log: the honest auditor signs a snapshot the database
# made of (1) a record whose envelope is another record's, (2) a record
# whose escrow event the server does not name.
X=$(sql "SELECT id FROM escrow_records ORDER BY id LIMIT 1")
Y=$(sql "SELECT id FROM escrow_records ORDER BY id LIMIT 1 OFFSET 1")
own "ALTER TABLE escrow_records DISABLE TRIGGER escrow_records_immutable;
     CREATE TABLE saved_env AS SELECT id, envelope, envelope_sha256 FROM escrow_records WHERE id = '$X';
     UPDATE escrow_records SET (envelope, envelope_sha256) =
       (SELECT envelope, envelope_sha256 FROM escrow_records WHERE id = '$Y') WHERE id = '$X';
     ALTER TABLE escrow_records ENABLE TRIGGER escrow_records_immutable"
D3=$(aud drill start --all --key-out "$W/d3.key" 2>"$W/start.err") || fail "start D3: $(cat "$W/start.err")"
approve "$W" 1 "$D3"
refused "record $X: the audit event the server shows is not the escrow of this envelope" "R of another envelope"
export_drill "$W" 2 "$D3" "$W/d3.json"
refused "record $X" "R of another envelope, export"
[ ! -e "$W/d3.json" ] || fail "a drill file with an R outside the log"
noparts "$D3" "R of another envelope"
own "ALTER TABLE escrow_records DISABLE TRIGGER escrow_records_immutable;
     UPDATE escrow_records r SET (envelope, envelope_sha256) = (s.envelope, s.envelope_sha256)
       FROM saved_env s WHERE r.id = s.id;
     DROP TABLE saved_env;
     CREATE TABLE saved_leaf AS SELECT id, leaf_index FROM escrow_records WHERE id = '$Y';
     UPDATE escrow_records SET leaf_index = NULL WHERE id = '$Y';
     ALTER TABLE escrow_records ENABLE TRIGGER escrow_records_immutable"
D4=$(aud drill start --all --key-out "$W/d4.key" 2>"$W/start.err") || fail "start D4: $(cat "$W/start.err")"
approve "$W" 1 "$D4"
refused "no audit event for the escrow of record $Y" "a record outside the log"
export_drill "$W" 2 "$D4" "$W/d4.json"
refused "no audit event" "a record outside the log, export"
noparts "$D4" "a record outside the log"
own "ALTER TABLE escrow_records DISABLE TRIGGER escrow_records_immutable;
     UPDATE escrow_records r SET leaf_index = s.leaf_index FROM saved_leaf s WHERE r.id = s.id;
     DROP TABLE saved_leaf;
     ALTER TABLE escrow_records ENABLE TRIGGER escrow_records_immutable"
ok "an R not inside an envelope escrowed in the log, or a record without an escrow event: no part"

# ---- an unsigned drill: refused by the custodian, and by the server
own "UPDATE drills SET statement = NULL, statement_sig = NULL, auditor_key = NULL, expires = NULL WHERE id = '$D4'"
approve "$W" 1 "$D4"
refused "no statement signed by its auditor" "unsigned drill"
RID=$(sql "SELECT record_id FROM drill_records WHERE drill_id = '$D4' LIMIT 1")
# A part of the right shape (KP 01, a valid point, 125 more bytes).
FAKEPART=$(python3 -c 'import base64; g = bytes.fromhex("036b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296"); print(base64.urlsafe_b64encode(b"KP\x01" + g + b"\x11" * 125).decode().rstrip("="))')
jpost "$URL/v1/drills/$D4/parts" "${CT[1]}" "{\"parts\":[{\"record_id\":\"$RID\",\"part\":\"$FAKEPART\"}]}"
[ "$STATUS" = 409 ] || fail "the server took parts of an unsigned drill: $STATUS"
noparts "$D4" "unsigned drill"
own "UPDATE drills SET expires = now() - interval '1 minute' WHERE id = '$D3'"
RID=$(sql "SELECT record_id FROM drill_records WHERE drill_id = '$D3' LIMIT 1")
jpost "$URL/v1/drills/$D3/parts" "${CT[1]}" "{\"parts\":[{\"record_id\":\"$RID\",\"part\":\"$FAKEPART\"}]}"
[ "$STATUS" = 409 ] && grep -q "expired" "$BODYF" || fail "the server took parts of an expired drill: $STATUS"
noparts "$D3" "expired drill"
ok "an unsigned or expired drill: no part, and the server refuses its parts"

# ---- a forked log view: a second escrowd on another database with the
# same log key; its checkpoint is the one the custodian saved.
DB2=drl2_$$_$RANDOM
"$PGLOCAL" psql --dir "$FIX_VAR" admin -v ON_ERROR_STOP=1 -q \
  -c "CREATE DATABASE $DB2 OWNER keyescrow_owner" \
  -c "GRANT CONNECT ON DATABASE $DB2 TO keyescrow_app" || fail "cannot create database 2"
APP2=${ESCROWD_DB_DSN/dbname=keyescrow/dbname=$DB2}
OWN2=${ESCROWD_DB_OWNER_DSN/dbname=keyescrow/dbname=$DB2}
env ESCROWD_CONFIG=/dev/null ESCROWD_SCHEMA_DIR="$KE_SRC/schema" ESCROWD_DB_DSN="$APP2" \
  ESCROWD_DB_OWNER_DSN="$OWN2" "$KE_ESCROWD" migrate >"$W/migrate2.log" 2>&1 || fail "migrate 2"
start_daemon other "$KE_ESCROWD" ESCROWD_DB_DSN="$APP2" ESCROWD_DB_OWNER_DSN="$OWN2" \
  ESCROWD_AUDIT_KEY_FILE="$TW/audit.key" ESCROWD_PASSWORD_SCRYPT_LOG2N=10 -- serve
URL2=http://127.0.0.1:$PORT_other
mint_user "$APP2" other1 auditor
mkdir -p "$W/other"
ESCROWCTL_TOKEN=$(mint_token "$APP2" other1) HOME=$W/other ESCROWCTL_SERVER=$URL2 \
  "$ESCROWCTL" key register >/dev/null 2>&1 || fail "key register on the other server"
mkdir -p "$W/fork/.config/escrowctl"
chmod 700 "$W/fork/.config" "$W/fork/.config/escrowctl"
HOME=$W/fork "$ESCROWCTL" pin add aud1 "$AFPR" >/dev/null
curl -sS -f -o "$W/fork/.config/escrowctl/audit-checkpoint" "$URL2/v1/audit/checkpoint?fresh=1&format=note" ||
  fail "the other server's checkpoint"
OTHER=$(sed -n 2p "$W/fork/.config/escrowctl/audit-checkpoint")
D5=$(aud drill start --all --key-out "$W/d5.key" 2>"$W/start.err") || fail "start D5: $(cat "$W/start.err")"
approve "$W/fork" 1 "$D5"
refused "FORKED LOG VIEW" "forked log"
grep -q "(tree size $OTHER)" "$W/out" || fail "the saved size $OTHER is not named: $(cat "$W/out")"
[ "$(grep -o 'tree size [0-9]*' "$W/out" | sort -u | wc -l)" = 2 ] || fail "both sizes: $(cat "$W/out")"
export_drill "$W/fork" 2 "$D5" "$W/d5-fork.json"
refused "FORKED LOG VIEW" "forked log, export"
noparts "$D5" "forked log"
ok "a forked log view: refused at approve and export, naming both tree sizes"

# ---- the honest drill still passes: one online custodian, one offline.
approve "$W" 1 "$D5"
[ "$RC" = 0 ] || fail "honest approve: $(cat "$W/out")"
export_drill "$W" 2 "$D5" "$W/d5.json"
[ "$RC" = 0 ] || fail "honest export: $(cat "$W/out")"
set +e
offline drill part --drill "$W/d5.json" --share "$KD/custodian-2.share.json" \
  --passphrase-file "$KD.pass/2" --yes --out "$W/b5.json" >"$W/out" 2>&1
RC=$?
set -e
[ "$RC" = 0 ] || fail "honest drill part: $(cat "$W/out")"
ESCROWCTL_TOKEN=${CT[2]} "$ESCROWCTL" drill approve "$D5" --import "$W/b5.json" >"$W/out" 2>&1 ||
  fail "import: $(cat "$W/out")"
rc=0; aud drill run "$D5" --key "$W/d5.key" >"$W/run.out" 2>"$W/run.err" || rc=$?
# The fleet's last record carries a wrong verifier: 3 ok, 1 failed.
[ $rc = 1 ] && grep -q "4 record(s), 3 ok, 1 failed" "$W/run.out" ||
  fail "honest run: $rc $(cat "$W/run.out" "$W/run.err")"
ok "the honest drill passes end to end (online and offline custodians)"
