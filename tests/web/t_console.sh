#!/usr/bin/env bash
# The web console end to end in headless Chromium, against a real escrowd
# (private database of the fixture cluster, web_dir = the build's web/):
#   1. bootstrap-admin, then through the API: a helpdesk user with a
#      one-time password, a custodian (index 1), an auditor; the escrow key of
#      a real ceremony; a device enrolled and a BitLocker record escrowed by
#      the independent Python agent; a device whose hostname is HTML;
#   2. a pending retrieval request made by the helpdesk user through the
#      retrieval API (world_retrieval.py);
#   3. console_test.js: log in (one-time password change), search the device,
#      see its escrow history, the requester's and the custodian's queue
#      with the escrowctl command that finishes the request, the audit log;
#      screenshots into the build directory.
. "$KE_SRC/tests/server/lib.sh"
. "$KE_SRC/tests/server/t_auth_lib.sh"
. "$KE_SRC/tests/server/t_device_lib.sh"
: "${KE_WEB_OUT:?}"
load_fixture
WEBT=$KE_SRC/tests/web

[ -x /usr/bin/chromium ] || fail "/usr/bin/chromium missing: run scripts/deps.sh"
# playwright-core, pinned by the committed package-lock.json, installed into
# the build directory (no browser download: Debian's chromium is used).
. "$WEBT/node_lib.sh"
NODE_DIR=$KE_WEB_OUT/node
node_ci "$WEBT" "$NODE_DIR"
log "playwright-core $(node -p "require('$NODE_DIR/node_modules/playwright-core/package.json').version")"

make_private_db
head -c 18 /dev/urandom | base64 | tr '+/' '-_' >"$TW/admin.pw"
priv_escrowd bootstrap-admin --user web-admin --password-file "$TW/admin.pw" >"$TW/bootstrap.log" 2>&1 ||
  fail "bootstrap-admin: $(cat "$TW/bootstrap.log")"
start_private web ESCROWD_WEB_DIR="${KE_WEB_BUILT:?}"
URL=http://127.0.0.1:$(cat "$TW/web.port")
ceremony "$TW/k"
python3 "$WEBT/world.py" "$URL" "$TW/admin.pw" "$TW/k/keys/escrow-key.json" "$TW/world.json" ||
  fail "cannot build the world"
ok "world: admin, helpdesk (one-time password), custodian #1, auditor; an enrolled device with an escrowed BitLocker record"

# A full drill discloses every record it opened (docs/operations.md "What
# follows a drill"; built and tested end to end in t_drill_after.sh).  Here
# only what the console shows of it matters, so the owner role records one
# such drill directly: the D: record, disclosed by it, due to rotate.
DRL=drl-$(python3 -c 'import base64, os; print(base64.b32encode(os.urandom(20)).decode().lower()[:26])')
DREC=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["device"]["drilled_record_id"])' "$TW/world.json")
app_psql "$PRIV_OWN_DSN" -c "INSERT INTO drills (id, auditor_id, selection, e_point, nonce, signature,
    key_fpr, open_until)
  SELECT '$DRL', id, 'all', decode('02' || repeat('11', 32), 'hex'), repeat('A', 22),
    decode(repeat('22', 64), 'hex'), repeat('ab', 32), now() + interval '1 day'
  FROM users WHERE name = 'web-auditor';
  UPDATE escrow_records SET state = 'disclosed', disclosed_drill = '$DRL' WHERE id = '$DREC'" >/dev/null ||
  fail "cannot record the drill disclosure"
python3 - "$TW/world.json" "$DRL" <<'PY'
import json, sys
w = json.load(open(sys.argv[1])); w["drill_id"] = sys.argv[2]; json.dump(w, open(sys.argv[1], "w"))
PY
ok "the D: record is disclosed by drill $DRL"

python3 "$WEBT/world_retrieval.py" "$URL" "$TW/world.json" ||
  fail "cannot make the pending retrieval request"
# A custodian declined it (what POST /v1/retrievals/{id}/declines stores).
DECL='ticket INC-4711 is closed <i>really</i>'
app_psql "$PRIV_APP_DSN" -c "INSERT INTO retrieval_declines (retrieval_id, custodian_index, user_id, rule, reason)
  SELECT '$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["retrieval"]["id"])' "$TW/world.json")',
    1, id, 'ticket_pattern', '$DECL' FROM users WHERE name = 'web-custodian'" >/dev/null ||
  fail "cannot record the decline"
python3 - "$TW/world.json" "$DECL" <<'PY'
import json, sys
w = json.load(open(sys.argv[1])); w["retrieval"]["decline"] = sys.argv[2]; json.dump(w, open(sys.argv[1], "w"))
PY
ok "a pending retrieval request through the retrieval API, declined by custodian #1"

mkdir -p "$TW/profile"
KE_NODE_DIR=$NODE_DIR KE_PROFILE=$TW/profile KE_WEB_OUT=$KE_WEB_OUT \
  timeout 240 node "$WEBT/console_test.js" "$TW/world.json" "$KE_SRC/tests/vectors/keyescrow-v1.json" ||
  fail "console_test.js"
expect_serving "$URL" "the browser session"
stop_daemon web
ok "headless Chromium: login with a one-time password change, device search and history, the pending request in the requester's and the custodian's queue, the audit log (screenshots in $KE_WEB_OUT)"
