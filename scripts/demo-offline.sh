#!/usr/bin/env bash
# demo-offline.sh - the whole opening of one envelope, with no server:
# a 3-of-5 key ceremony, an envelope sealed to the escrow key, a retrieval
# request, three custodians' parts and the opening.  Everything is written
# under ./var/demo (the shares there are sealed under demo passphrases; never
# use them for anything real).
#
#   usage: scripts/demo-offline.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-${KE_BUILD_DIR:-$(pwd)/build}}
CTL=$BUILD/ctl/escrowctl
DEMO=${KE_DEMO_DIR:-$(pwd)/var/demo}

rm -rf "$DEMO"
mkdir -p "$DEMO/pass"
chmod 700 "$DEMO"
names=(alice bob carol dave erin)
args=()
for i in 1 2 3 4 5; do
  # Demo passphrases only: real custodians type theirs at the prompt.  A
  # random tail: escrowctl refuses guessable share passphrases.
  printf 'demo passphrase of %s %s\n' "${names[$((i-1))]}" \
    "$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" >"$DEMO/pass/$i"
  args+=(--custodian "${names[$((i-1))]}" --passphrase-file "$i=$DEMO/pass/$i")
done

echo "--> ceremony: 3 of 5 custodians"
fpr=$("$CTL" ceremony --threshold 3 --shares 5 "${args[@]}" --out "$DEMO/keys" 2>/dev/null)
echo "    escrow key fingerprint $fpr"

echo "--> seal a BitLocker-style recovery password for laptop-17, volume C:"
# Eight groups of six digits, each a multiple of 11 below 720896.
secret=$(od -An -N24 -tu2 /dev/urandom | tr -s ' ' '\n' | sed '/^$/d' | head -8 |
         while read -r n; do printf '%06d\n' $(( n * 11 )); done |
         paste -sd- -)
printf '%s\n' "$secret" |
  "$CTL" seal --manifest "$DEMO/keys/escrow-key.json" --fingerprint "$fpr" \
    --device laptop-17 --volume C: --out "$DEMO/envelope.b64"
echo "    envelope: $(wc -c <"$DEMO/envelope.b64") bytes of base64url, readable by nobody alone"

echo "--> the helpdesk opens request req-demo-1 with a one-time key"
code=$("$CTL" request new --manifest "$DEMO/keys/escrow-key.json" --envelope "$DEMO/envelope.b64" \
  --device laptop-17 --volume C: --id req-demo-1 \
  --out "$DEMO/request.json" --key-out "$DEMO/request.key" 2>/dev/null)
echo "    confirmation code $code: each custodian checks it with the requester"

for i in 1 3 5; do
  echo "--> custodian $i (${names[$((i-1))]}) contributes a part"
  "$CTL" part --request "$DEMO/request.json" --manifest "$DEMO/keys/escrow-key.json" \
    --share "$DEMO/keys/custodian-$i.share.json" --passphrase-file "$DEMO/pass/$i" \
    --yes --out "$DEMO/part-$i.json" 2>/dev/null
done

echo "--> with two parts the envelope stays shut"
set +e
"$CTL" open --request "$DEMO/request.json" --key "$DEMO/request.key" \
  --manifest "$DEMO/keys/escrow-key.json" "$DEMO/part-1.json" "$DEMO/part-3.json" >/dev/null 2>&1
rc=$?
set -e
[ "$rc" = 3 ] || { echo "demo: expected exit 3 with two parts, got $rc" >&2; exit 1; }
echo "    escrowctl open: exit 3 (one more part needed)"

echo "--> with three parts it opens"
opened=$("$CTL" open --request "$DEMO/request.json" --key "$DEMO/request.key" \
  --manifest "$DEMO/keys/escrow-key.json" "$DEMO"/part-{1,3,5}.json)
if [ "$opened" != "$secret" ]; then
  echo "demo: the opened secret differs from the sealed one" >&2
  exit 1
fi
echo "    recovered the sealed recovery password: $opened"
