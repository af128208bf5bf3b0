# t_retrieval_browser.sh - the `browser` case of t_retrieval.sh (sourced
# there): a helpdesk user opens the BitLocker key in headless Chromium
# (tests/web/retrieval_test.js, web/js/retrieve_ui.js) while three
# custodians approve with escrowctl, and a hostile server slips in a
# forged part (sealed to the page's E, with a proof that does not hold).
# Then the page opens an older (superseded) record from the escrow
# history, by its record id.

# approve_pinned I REQ FPR: custodian I approves REQ online, pinning the
# requester's key FPR (as read out by the page); output in $W/ap.I.
approve_pinned() {
  set +e
  cust "$1" approve "$2" --share "$KD/custodian-$1.share.json" --passphrase-file "$KD.pass/$1" \
    --pin-requester "$3" --yes >"$W/ap.$1" 2>&1
  RC=$?
  set -e
  [ "$RC" = 0 ] || fail "approve $1 of $2: $(cat "$W/ap.$1")"
}

case_browser() {
  [ -x /usr/bin/chromium ] || fail "/usr/bin/chromium missing: run scripts/deps.sh"
  . "$KE_SRC/tests/web/node_lib.sh"
  local node=${KE_BROWSER_NODE:?} bw=$W/browser pw=bhd-$RANDOM-$RANDOM-$RANDOM
  node_ci "$KE_SRC/tests/web" "$node"
  mkdir -p "$bw"
  # An older record: the data volume's first key, superseded by a second.
  local old_data S3=browser-Qx7-second-lantern-zq58
  old_data=$(active data)
  agin "$S3" escrow --provider stdin --volume data
  expect_rc 0 "escrow data again: $(cat "$W/agent.err")"
  [ "$(sql "SELECT state FROM escrow_records WHERE id = '$old_data'")" = superseded ] || fail "not superseded"
  jpost "$URL/v1/users" "$ADMIN" "{\"name\":\"bhd\",\"role\":\"helpdesk\",\"password\":\"$pw\"}"
  expect_status 201 "the browser user"
  KE_NODE_DIR=$node timeout 200 node "$KE_SRC/tests/web/retrieval_test.js" "$URL" bhd "$pw" 0B4C6C0E-6F5A C: \
    "$bw" "$old_data" >"$bw/test.log" 2>&1 &
  local npid=$! end=$((SECONDS + 60))
  until [ -s "$bw/request.json" ]; do
    kill -0 $npid 2>/dev/null || fail "the page made no request: $(cat "$bw/test.log")"
    [ $SECONDS -lt "$end" ] || fail "no request on the page: $(cat "$bw/test.log")"
    sleep 0.1
  done
  local rid code fpr
  rid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$bw/request.json")
  code=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["code"])' "$bw/request.json")
  fpr=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["fingerprint"])' "$bw/request.json")
  [ "$(sql "SELECT code FROM retrievals WHERE id = '$rid'")" = "$code" ] || fail "the page shows another code"
  [ "$(sql "SELECT key_fpr FROM retrievals WHERE id = '$rid'")" = "$fpr" ] || fail "the page shows another key"
  ok "the page made request $rid, signed by its own client key, and shows its code"

  # The hostile server: a part for index 4, sealed to E (public), whose DLEQ
  # proof is made up.  Only the page's check can tell.
  local E forged
  E=$(sql "SELECT encode(e_point, 'hex') FROM retrievals WHERE id = '$rid'")
  forged=$(python3 - "$E" "$rid" <<'PY'
import os, sys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
E = bytes.fromhex(sys.argv[1]); rid = sys.argv[2].encode()
n = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551
k = ec.generate_private_key(ec.SECP256R1())
Re = k.public_key().public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
x = k.exchange(ec.ECDH(), ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), E))
key = HKDF(hashes.SHA256(), 32, salt=Re + E, info=b"keyescrow-v1-partial").derive(x)
nonce = os.urandom(12)
header = b"KP\x01" + Re + nonce
scalar = lambda: (int.from_bytes(os.urandom(32), "big") % (n - 1) + 1).to_bytes(32, "big")
proof = Re + scalar() + scalar()           # a valid point, c and s: a proof that does not hold
print((header + AESGCM(key).encrypt(nonce, proof, header + rid + bytes([4]))).hex())
PY
)
  [ ${#forged} = 322 ] || fail "forged part: $forged"
  own "INSERT INTO retrieval_parts (retrieval_id, custodian_index, custodian_id, part)
       SELECT '$rid', 4, id, decode('$forged', 'hex') FROM users WHERE name = 'c4'" >/dev/null
  local i
  for i in 1 2 3; do approve_pinned "$i" "$rid" "$fpr"; done
  # The older record: three custodians approve the page's second request.
  end=$((SECONDS + 60))
  until [ -s "$bw/request-older.json" ]; do
    kill -0 $npid 2>/dev/null || fail "the page made no older request: $(cat "$bw/test.log")"
    [ $SECONDS -lt "$end" ] || fail "no older request on the page: $(cat "$bw/test.log")"
    sleep 0.1
  done
  local orid
  orid=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$bw/request-older.json")
  [ "$(sql "SELECT named_record FROM retrievals WHERE id = '$orid'")" = "$old_data" ] ||
    fail "the page's older request does not name $old_data"
  for i in 1 2 3; do
    approve_pinned "$i" "$orid" "$fpr"
    grep -q "AN OLDER KEY" "$W/ap.$i" || fail "approve older $i: $(cat "$W/ap.$i")"
  done
  local rc=0
  wait $npid || rc=$?
  [ "$rc" = 0 ] || fail "retrieval_test.js ($rc): $(cat "$bw/test.log")"
  sed -n 's/^/  /p' "$bw/test.log"
  cp "$bw"/*.png "$(dirname "$node")/"   # screenshots, kept in the build tree
  python3 - "$bw/result.json" "$PW" <<'PY' || fail "the page showed another key: $(cat "$bw/result.json")"
import json, sys
assert json.load(open(sys.argv[1]))["key"].encode() == sys.argv[2].encode()
PY
  python3 - "$bw/result.json" "$S2" <<'PY' || fail "the page showed another older key: $(cat "$bw/result.json")"
import json, sys
assert json.load(open(sys.argv[1]))["older"] == sys.argv[2]
PY
  ok "the page showed exactly the escrowed BitLocker key (byte for byte) and named the forged part"
  ok "the page opened the older (superseded) record from the history, named by its id, shown as an older key"
  ! grep -qF "$PW" "$TW/main.log" || fail "the key is in the server log"
}
