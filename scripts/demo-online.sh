#!/usr/bin/env bash
# demo-online.sh - keyescrow end to end against a running escrowd (as
# quickstart.sh leaves it): the first administrator, a 3-of-5 escrow key
# ceremony and its publication, the people (helpdesk, four custodians, an
# auditor), the custodians' share attestations, a device that enrols and
# escrows its recovery key, a helpdesk retrieval that three custodians
# approve, the rotation the device is then asked for, the coverage report
# and a verification of the audit log.
#
# Everything it makes lives under ./var/demo-online: demo passwords and
# share passphrases in plain files, for a demo only.  Rerunning it reuses
# the accounts and the escrow key and enrols a new device.  On a database
# whose accounts it did not make it changes nothing and says so.
#
#   usage: scripts/demo-online.sh [BUILD_DIR [URL]]
#   KE_DEMO_ESCROWD_CONFIG: escrowd's config for bootstrap-admin (default
#   var/escrowd.conf; "-" = the ESCROWD_* environment only)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-${KE_BUILD_DIR:-$(pwd)/build}}
URL=${2:-http://127.0.0.1:8080}
D=${KE_DEMO_ONLINE_DIR:-$(pwd)/var/demo-online}
CONF=${KE_DEMO_ESCROWD_CONFIG:-$(pwd)/var/escrowd.conf}
ESCROWD=$BUILD/server/escrowd
CTL=$BUILD/ctl/escrowctl
AGENT=$BUILD/agent/escrow-agent
say() { printf -- '--> %s\n' "$*"; }
die() { printf 'demo-online: %s\n' "$*" >&2; exit 1; }
unset ESCROWCTL_TOKEN ESCROWCTL_SERVER ESCROWCTL_CACERT ESCROWCTL_LOG_KEY

mkdir -p "$D/pw" "$D/cfg"
chmod 700 "$D"
# as PERSONA escrowctl ARGS...: each person has their own login.
as() { local who=$1; shift; XDG_CONFIG_HOME="$D/cfg/$who" "$CTL" "$@"; }
pw() { [ -s "$D/pw/$1" ] || printf 'demo-%s-%s\n' "$1" "$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" >"$D/pw/$1"; echo "$D/pw/$1"; }
login() { as "$1" login --server "$URL" --user "demo-$1" --password-file "$(pw "$1")" >/dev/null; }

# ---- the first administrator ---------------------------------------------------
if [ ! -s "$D/pw/admin" ]; then
  conf=(--config "$CONF")
  [ "$CONF" = - ] && conf=()
  if ! "$ESCROWD" "${conf[@]}" bootstrap-admin --user demo-admin --password-file "$(pw admin)" \
      >"$D/bootstrap.out" 2>&1; then
    rm -f "$D/pw/admin"
    if grep -q 'already has users' "$D/bootstrap.out"; then
      echo "demo-online: the database already has accounts this demo did not make; skipped"
      exit 0
    fi
    die "bootstrap-admin: $(cat "$D/bootstrap.out")"
  fi
  say "escrowd bootstrap-admin: the first administrator, demo-admin"
fi
login admin

# ---- the key ceremony (offline in real life) and its publication ---------------
if [ ! -s "$D/keys/escrow-key.json" ]; then
  rm -rf "$D/keys"
  args=()
  for i in 1 2 3 4 5; do
    printf 'demo share passphrase %s %s\n' "$i" "$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" \
      >"$D/pw/share-$i"
    args+=(--custodian "custodian-$i" --passphrase-file "$i=$D/pw/share-$i")
  done
  "$CTL" ceremony --threshold 3 --shares 5 "${args[@]}" --out "$D/keys" >"$D/fpr" 2>/dev/null
  say "key ceremony: 3 of 5 custodians, fingerprint $(cat "$D/fpr")"
fi
FPR=$(cat "$D/fpr")
as admin escrow-key publish --manifest "$D/keys/escrow-key.json" --fingerprint "$FPR" >/dev/null
say "escrow key published; agents pin its fingerprint"

# ---- the people ----------------------------------------------------------------
adduser() {  # persona role [custodian index]
  local extra=()
  [ -n "${3:-}" ] && extra=(--custodian-index "$3")
  if as admin user add "demo-$1" --role "$2" "${extra[@]}" --password-file "$(pw "$1")" \
      >/dev/null 2>"$D/useradd.err"; then
    say "user demo-$1 ($2${3:+, share $3})"
  else
    grep -q conflict "$D/useradd.err" || die "user add demo-$1: $(cat "$D/useradd.err")"
  fi
  login "$1"
}
adduser helpdesk helpdesk
adduser auditor auditor
for i in 1 2 3 4; do adduser "custodian-$i" custodian "$i"; done
# Custodian health: each proves they still hold their share (a DLEQ proof on
# a server challenge; the share never leaves their machine).
for i in 1 2 3 4; do
  as "custodian-$i" share attest --manifest "$D/keys/escrow-key.json" \
    --share "$D/keys/custodian-$i.share.json" --passphrase-file "$D/pw/share-$i" \
    >/dev/null 2>"$D/attest.err" || die "share attest $i: $(cat "$D/attest.err")"
done
say "custodians 1-4 attested that they still hold their shares"

# ---- a device escrows its recovery key -----------------------------------------
HOST=demo-laptop-$(date +%H%M%S)
TOKEN=$(as admin enroll-token create --group demo --uses 1 --expires 1h 2>/dev/null)
rm -rf "$D/agent"
printf '%s\n' "$TOKEN" >"$D/enroll.token"
# The log key is pinned like the escrow key (read here from the server the
# demo talks to; in production it comes from a trusted channel).
LOGKEY=$(curl -fsS "$URL/v1/audit/key" | python3 -c 'import json,sys; print(json.load(sys.stdin)["verifier_key"])')
"$AGENT" enroll --server "$URL" --token-file "$D/enroll.token" --escrow-fingerprint "$FPR" \
  --log-key "$LOGKEY" \
  --hostname "$HOST" --state-dir "$D/agent" >/dev/null 2>"$D/agent.log" ||
  die "escrow-agent enroll: $(cat "$D/agent.log")"
rm -f "$D/enroll.token"
SECRET=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
printf '%s' "$SECRET" | "$AGENT" escrow --provider stdin --volume C: --state-dir "$D/agent" \
  >/dev/null 2>>"$D/agent.log" || die "escrow-agent escrow: $(cat "$D/agent.log")"
say "device $HOST enrolled and escrowed its recovery key for C: (the server holds ciphertext only)"

# ---- the helpdesk retrieval, three custodians ----------------------------------
as helpdesk key register >/dev/null 2>&1 || true   # once per person; again is harmless
# The fingerprint the helpdesk person reads to each custodian once, out of
# band; custodians pin it (here: --pin-requester at the first approval).
HDFPR=$(as helpdesk key show | head -n1)
rm -f "$D/request.json" "$D/request.key"
# The helpdesk and the custodians check that the record's escrow is in the
# signed audit log, with the log key taken above.  The helpdesk also pins the
# escrow key.
ESCROWCTL_LOG_KEY=$LOGKEY as helpdesk retrieve --device "$HOST" --volume C: --reason "demo: user locked out" \
  --ticket DEMO-1 --key-out "$D/request.key" --request-out "$D/request.json" --escrow-fingerprint "$FPR" \
  >/dev/null 2>"$D/retrieve.err" || die "retrieve: $(cat "$D/retrieve.err")"
REQ=$(sed -n 's/.*request \(req-[a-z2-7]*\) created.*/\1/p' "$D/retrieve.err" | head -n1)
CODE=$(sed -n 's/.*confirmation code  *\([A-Z2-7]\{8\}\).*/\1/p' "$D/retrieve.err" | head -n1)
say "helpdesk opens request $REQ, confirmation code $CODE"
for i in 1 2 3; do
  ESCROWCTL_LOG_KEY=$LOGKEY as "custodian-$i" approve "$REQ" --share "$D/keys/custodian-$i.share.json" \
    --passphrase-file "$D/pw/share-$i" --yes --pin-requester "$HDFPR" >/dev/null 2>"$D/approve.err" ||
    die "approve by custodian $i: $(cat "$D/approve.err")"
  say "custodian $i confirmed the code and contributed a part"
done
ESCROWCTL_LOG_KEY=$LOGKEY as helpdesk retrieve --request "$D/request.json" --key "$D/request.key" \
  --escrow-fingerprint "$FPR" --out "$D/recovered" \
  >/dev/null 2>"$D/retrieve.err" || die "retrieve: $(cat "$D/retrieve.err")"
[ "$(cat "$D/recovered")" = "$SECRET" ] || die "the recovered key is not the escrowed one"
rm -f "$D/recovered" "$D/request.key"
say "the helpdesk opened the envelope: the recovered key is exactly the escrowed one"

# ---- rotation after disclosure -------------------------------------------------
"$AGENT" checkin --state-dir "$D/agent" >/dev/null 2>>"$D/agent.log" || true
grep -q "rotation (disclosed)" "$D/agent.log" || die "the device was not asked to rotate"
printf '%s' "$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')" |
  "$AGENT" escrow --provider stdin --volume C: --state-dir "$D/agent" >/dev/null 2>>"$D/agent.log" ||
  die "re-escrow: $(cat "$D/agent.log")"
say "the device's next check-in was told to rotate; the new key is escrowed, the old record is 'rotated'"

# ---- what an auditor sees ------------------------------------------------------
say "coverage report (auditor), group demo:"
as auditor report coverage --group demo 2>/dev/null |
  grep -E '^(devices|escrowed|disclosed_not_rotated) |^Custodians|^WARNING' | sed 's/^/    /'
VERIFY=$(as auditor audit verify --log-key "$LOGKEY" --save 2>"$D/verify.err") ||
  die "audit verify: $(cat "$D/verify.err") $VERIFY"
say "audit verify (auditor): ${VERIFY%%;*}"
echo "    logins: XDG_CONFIG_HOME=$D/cfg/<admin|helpdesk|auditor|custodian-N> $CTL ..."
