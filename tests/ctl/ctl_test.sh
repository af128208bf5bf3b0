#!/usr/bin/env bash
# End-to-end tests of escrowctl's offline commands, with the real binary.
#   ctl_test.sh ESCROWCTL TESTTOOL WORKDIR CASE [EXTRA]
# (EXTRA: valgrind for the valgrind case, the LD_PRELOAD shim for `files`.)
# Every escrowctl run logs its stdout and stderr under WORKDIR/log, except the
# stdout of `open`, which goes to WORKDIR/opened; every case ends by checking
# that no secret (the sealed secret, a passphrase, a share, the requester key,
# a custodian's partial decryption P_i, the combined S = d*R) appears in the
# logs or in any file written other than open's output.
set -euo pipefail
E=$1 T=$2 W=$3 CASE=$4 EXTRA=${5:-}
VALGRIND=$EXTRA
HERE=$(cd "$(dirname "$0")" && pwd)
umask 022   # escrowctl refuses to write into group- or world-writable directories
rm -rf "$W"
mkdir -p "$W/log" "$W/opened" "$W/private"
cd "$W"
n=0
M=keys/escrow-key.json

fail() { echo "FAIL [$CASE]: $*" >&2; exit 1; }

# run WANT_RC ARGS...: run escrowctl, stdin from /dev/null (no prompts).
run() {
  local want=$1 rc=0; shift
  n=$((n + 1))
  out=log/$n.out err=log/$n.err
  "$E" "$@" >"$out" 2>"$err" </dev/null || rc=$?
  [ "$rc" -eq "$want" ] || { cat "$err" >&2; fail "escrowctl $* exited $rc, want $want"; }
}
# run_open WANT_RC ARGS...: the same for open, whose stdout may hold the secret.
run_open() {
  local want=$1 rc=0; shift
  n=$((n + 1))
  out=opened/$n.out err=log/$n.err
  "$E" open "$@" >"$out" 2>"$err" </dev/null || rc=$?
  [ "$rc" -eq "$want" ] || { cat "$err" >&2; fail "escrowctl open $* exited $rc, want $want"; }
}
err_has() { grep -q -- "$1" "$err" || { cat "$err" >&2; fail "stderr lacks \"$1\""; }; }
err_lacks() { ! grep -q -- "$1" "$err" || { cat "$err" >&2; fail "stderr has \"$1\""; }; }
same() { cmp -s "$1" "$2" || fail "$1 and $2 differ"; }

# A 3-of-5 ceremony with passphrase files, a text secret sealed for
# laptop-17/C:, request req-1, and the parts of all five custodians.
setup() {
  local pf=()
  for i in 1 2 3 4 5; do
    printf 'pass-%d-%s\n' "$i" "$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')" \
      >"private/pass$i"
    pf+=(--passphrase-file "$i=private/pass$i")
  done
  run 0 ceremony --threshold 3 --shares 5 --custodian alice --custodian bob \
    --custodian carol --custodian dave --custodian eve --out keys "${pf[@]}" --scrypt-n 1024
  FPR=$(cat "$out")
  [[ $FPR =~ ^[0-9a-f]{64}$ ]] || fail "ceremony printed no fingerprint"
  [ "$(stat -c %a keys/custodian-1.share.json)" = 600 ] || fail "share file not 0600"
  printf '%s\n' "$(head -c 60 /dev/urandom | od -An -tu1 | tr -d ' \n' | cut -c1-48 |
    sed 's/\(......\)/\1-/g; s/-$//')" >private/secret.txt
  run 0 seal --manifest $M --fingerprint "$FPR" --device laptop-17 --volume C: \
    --in private/secret.txt
  cp "$out" env.b64
  run 0 request new --manifest $M --envelope env.b64 --device laptop-17 --volume C: \
    --id req-1 --out req.json --key-out private/req.key
  CODE=$(cat "$out")
  [[ $CODE =~ ^[A-Z2-7]{8}$ ]] || fail "no confirmation code"
  [ "$(stat -c %a private/req.key)" = 600 ] || fail "requester key not 0600"
  for i in 1 2 3 4 5; do
    part req.json "$i" "part-$i.json"
    err_has "$CODE"
    err_has laptop-17
  done
}
part() {  # part REQUEST INDEX OUT: no manifest needed, the request carries the key
  run 0 part --request "$1" --share "keys/custodian-$2.share.json" \
    --passphrase-file "private/pass$2" --out "$3" --yes
}
OPEN=(--request req.json --key private/req.key)

no_secrets() {
  local pat=private/patterns
  : >$pat
  # Text secrets and passphrases (8 bytes or more, so that no pattern
  # matches by chance), shares in hex and base64url, requester keys.
  for f in private/pass* private/secret.txt; do
    [ -f "$f" ] && head -n1 "$f" >>$pat
  done
  for i in 1 2 3 4 5; do
    [ -f keys/custodian-$i.share.json ] &&
      "$T" share-secret keys/custodian-$i.share.json private/pass$i >>$pat
  done
  for k in private/req*.key; do
    [ -f "$k" ] || continue
    sed -n 's/.*"e": "\(.*\)".*/\1/p' "$k" >>$pat
    # Every P_i and S of this key's request (parts of other requests are
    # skipped by the tool).
    for r in ./*.json; do
      grep -q '"confirmation_code"' "$r" 2>/dev/null || continue
      "$T" part-secrets "$k" "$r" ./*.json >>$pat
    done
  done
  awk 'length >= 8' $pat >$pat.long && mv $pat.long $pat
  [ -s $pat ] || fail "no secrets to look for"
  local hits
  hits=$(grep -rlF -f $pat log ./*.json ./*.b64 keys 2>/dev/null || true)
  [ -z "$hits" ] || fail "secret material in: $hits"
}

case $CASE in
roundtrip)
  setup
  for i in 1 2 3 4 5; do
    run 0 share verify --manifest $M --share keys/custodian-$i.share.json \
      --passphrase-file private/pass$i --fingerprint "$FPR"
  done
  run_open 0 "${OPEN[@]}" part-1.json part-3.json part-5.json
  same "$out" private/secret.txt          # text secret: printed with its newline
  run_open 0 "${OPEN[@]}" --raw part-2.json part-4.json part-5.json
  head -c -1 private/secret.txt >private/secret.raw
  same "$out" private/secret.raw          # --raw: the bytes only
  run_open 0 "${OPEN[@]}" part-5.json part-4.json part-3.json part-2.json part-1.json
  same "$out" private/secret.txt
  run_open 3 "${OPEN[@]}" part-2.json part-4.json
  err_has "2 good parts of the 3 needed: 1 more missing"
  [ ! -s "$out" ] || fail "open printed something without enough parts"
  run_open 3 "${OPEN[@]}" part-2.json part-2.json part-4.json
  err_has "custodian 2: .* second part"
  run_open 3 "${OPEN[@]}"
  err_has "3 more missing"
  # A binary secret, sealed and opened with --raw, exactly.
  head -c 200 /dev/urandom >private/secret-bin.txt
  run 0 seal --manifest $M --fingerprint "$FPR" --device d2 --volume v2 --raw \
    --in private/secret-bin.txt --out env2.b64
  run 0 request new --manifest $M --envelope env2.b64 --device d2 --volume v2 \
    --id req-2 --out req2.json --key-out private/req2.key
  for i in 2 3 4; do part req2.json $i p2-$i.json; done
  run_open 0 --request req2.json --key private/req2.key --manifest $M --out opened/bin \
    p2-2.json p2-3.json p2-4.json
  same opened/bin private/secret-bin.txt
  [ "$(stat -c %a opened/bin)" = 600 ] || fail "open --out not 0600"
  ;;
badproof)
  setup
  "$T" tamper-part req.json private/req.key part-2.json bad-2.json
  run_open 0 "${OPEN[@]}" bad-2.json part-1.json part-3.json part-4.json
  same "$out" private/secret.txt
  err_has "custodian 2: .*proof of correct decryption does not verify"
  run_open 3 "${OPEN[@]}" part-1.json bad-2.json part-3.json
  err_has "custodian 2: .*proof"
  err_has "1 more missing"
  # A part whose index field was changed does not open (index is in the AAD).
  cp part-4.json moved.json
  "$T" set moved.json index 2
  run_open 3 "${OPEN[@]}" moved.json part-1.json part-3.json
  err_has "custodian 2: .*does not open"
  # A bad part after T good ones is still named.
  run_open 0 "${OPEN[@]}" part-1.json part-3.json part-4.json bad-2.json
  err_has "custodian 2: .*proof"
  ;;
otherrequest)
  setup
  run 0 request new --manifest $M --envelope env.b64 --device laptop-17 --volume C: \
    --id req-9 --out req9.json --key-out private/req9.key
  part req9.json 2 other-2.json
  run_open 3 "${OPEN[@]}" part-1.json other-2.json part-3.json
  err_has "custodian 2: .*is for request req-9, not req-1"
  # Relabelled as req-1, it still does not open: it was sealed to req-9's key
  # with req-9 in its AAD.
  "$T" set other-2.json request_id '"req-1"'
  run_open 3 "${OPEN[@]}" part-1.json other-2.json part-3.json
  err_has "custodian 2: .*does not open"
  # The key of another request is refused outright.
  run_open 1 --request req.json --key private/req9.key --manifest $M part-1.json
  err_has "key of another request"
  ;;
binding)
  setup
  for field in device volume; do
    cp req.json req-$field.json
    "$T" set req-$field.json $field '"something-else"'
    run_open 1 --request req-$field.json --key private/req.key --manifest $M \
      part-1.json part-2.json part-3.json
    err_has "does not open"
    [ ! -s "$out" ] || fail "open printed something for a changed $field"
  done
  # Sealed for another device from the start: custodians' parts are fine,
  # the envelope is not.
  run 0 seal --manifest $M --fingerprint "$FPR" --device laptop-18 --volume C: \
    --in private/secret.txt --out env18.b64
  run 0 request new --manifest $M --envelope env18.b64 --device laptop-17 --volume C: \
    --id req-18 --out req18.json --key-out private/req18.key
  for i in 1 2 3; do part req18.json $i p18-$i.json; done
  run_open 1 --request req18.json --key private/req18.key --manifest $M \
    p18-1.json p18-2.json p18-3.json
  err_has "does not open"
  ;;
invalid)
  setup
  # x = 1 is off the curve (x = 5, the vectors' example, is on it).
  OFF=$("$T" b64 020000000000000000000000000000000000000000000000000000000000000001)
  BIGX=$("$T" b64 02ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff)
  ZERO=$("$T" b64 00)
  # Manifest: every point is checked, and derived values must agree.
  for edit in "commitments.1:\"$OFF\":commitments\"\\[1\\]: invalid point" \
              "public_key:\"$BIGX\":\"public_key\": invalid point" \
              "custodians.0.public_share:\"$ZERO\":custodians\"\\[0\\]: field \"public_share\": invalid point" \
              "custodians.1.public_share:\"$(sed -n 's/.*"E": "\(.*\)".*/\1/p' req.json)\":custodians\"\\[1\\]: public_share does not follow" \
              "fingerprint:\"$(printf '%064d' 0)\":does not match the commitments" \
              "threshold:4:commitments\": must be an array" \
              "custodians.1.name:\"alice\":name repeats custodian 1" \
              "custodians.0.index:2:index must be 1" \
              "shares:6:\"fingerprint\": does not match" \
              "version:2:unsupported version 2" \
              "extra:1:unknown field \"extra\""; do
    IFS=: read -r path value msg <<<"$edit"
    cp $M bad-manifest.json
    "$T" set bad-manifest.json "$path" "$value"
    run 1 share verify --manifest bad-manifest.json --share keys/custodian-1.share.json \
      --passphrase-file private/pass1
    err_has "$msg"
  done
  run 1 seal --manifest $M --fingerprint "$(printf '%064d' 0)" --device d --volume v \
    --in private/secret.txt
  err_has "not the pinned --fingerprint"
  # Request: R and E are points; R must be the envelope's (no blind oracle).
  E_PT=$(sed -n 's/.*"E": "\(.*\)".*/\1/p' req.json)
  # The embedded key: commitments must hash to the fingerprint; the digest
  # must be the envelope's.
  C1=$(sed -n 's/.*"public_share": "\(.*\)".*/\1/p' $M | head -n1)
  for edit in "R:\"$OFF\":\"R\": invalid point" "E:\"$BIGX\":\"E\": invalid point" \
              "R:\"$E_PT\":is not the R inside the envelope" \
              "confirmation_code:\"AAAAAAAA\":does not follow" \
              "commitments.1:\"$C1\":does not match threshold, shares and commitments" \
              "shares:4:does not match threshold, shares and commitments" \
              "envelope_sha256:\"$(printf '%064d' 0)\":is not the SHA-256 of the envelope" \
              "device:\"laptop\\u202e71-\":\"device\": must be 1..256 bytes of UTF-8 without control or invisible format"; do
    IFS=: read -r path value msg <<<"$edit"
    cp req.json bad-req.json
    "$T" set bad-req.json "$path" "$value"
    rm -f x.json
    run 1 part --request bad-req.json --manifest $M --share keys/custodian-1.share.json \
      --passphrase-file private/pass1 --out x.json --yes
    err_has "$msg"
    [ ! -e x.json ] || fail "a part was written for a bad request"
  done
  # Envelope: an R off the curve, in the envelope file and inside a request.
  "$T" patch-b64 env.b64 35 020000000000000000000000000000000000000000000000000000000000000001 \
    bad-env.b64
  run 1 request new --manifest $M --envelope bad-env.b64 --device laptop-17 --volume C: \
    --id req-x --out x.json --key-out private/x.key
  err_has "not a valid envelope: .*point"
  cp req.json bad-req.json
  "$T" set bad-req.json envelope "\"$(cat bad-env.b64)\""
  run 1 part --request bad-req.json --manifest $M --share keys/custodian-1.share.json \
    --passphrase-file private/pass1 --out x.json --yes
  err_has "\"envelope\": .*point"
  # Part: the ephemeral point inside the part.
  cp part-3.json bad-part.json
  "$T" set bad-part.json part "\"$("$T" b64 "4b5001$(printf '%066d' 0)$(printf '%0250d' 0)")\""
  run_open 3 "${OPEN[@]}" part-1.json bad-part.json part-2.json
  # Named by its custodian too, although the file does not parse.
  err_has "custodian 3: bad-part.json: part file: field \"part\": invalid point"
  # Requester key: e must be E's private key.
  cp private/req.key private/bad.key
  "$T" set private/bad.key e "\"$("$T" b64 "$(printf '%063d1' 0)")\""
  run_open 1 --request req.json --key private/bad.key --manifest $M part-1.json
  err_has "is not the private key of E"
  ;;
share)
  setup
  run 0 share verify --manifest $M --share keys/custodian-4.share.json \
    --passphrase-file private/pass4
  grep -q "custodian 4 (dave)" "$out" || fail "share verify did not say ok"
  run 1 share verify --manifest $M --share keys/custodian-4.share.json \
    --passphrase-file private/pass3
  err_has "wrong passphrase"
  # Another custodian's sealed share under this index: the AAD binds the index.
  cp keys/custodian-4.share.json wrong.json
  for f in sealed nonce; do
    "$T" set wrong.json $f "$(sed -n "s/.*\"$f\": \\(\".*\"\\).*/\\1/p" keys/custodian-3.share.json)"
  done
  "$T" set wrong.json kdf "$(tr -d '\n' <keys/custodian-3.share.json | sed 's/.*"kdf": \({[^}]*}\).*/\1/')"
  run 1 share verify --manifest $M --share wrong.json --passphrase-file private/pass3
  err_has "wrong passphrase, or the share file was altered"
  # A share of another escrow key.
  run 0 ceremony --threshold 1 --shares 1 --custodian dave --out other \
    --passphrase-file 1=private/pass4 --scrypt-n 1024
  run 1 share verify --manifest other/escrow-key.json --share keys/custodian-4.share.json \
    --passphrase-file private/pass4
  err_has "another escrow key"
  # No terminal and no passphrase file: a failure (1), not a usage error.
  run 1 share verify --manifest $M --share keys/custodian-4.share.json
  err_has "use --passphrase-file"
  ;;
usage)
  run 0 --help
  grep -q "3  open: not enough good parts" "$out" || fail "--help lacks exit codes"
  for c in ceremony "share verify" seal "request new" part open; do
    # shellcheck disable=SC2086
    run 0 $c --help
    grep -q "usage: escrowctl $c" "$out" || fail "$c --help"
  done
  run 0 --version
  run 2 nonsense
  run 2 share
  run 2 request old
  run 2 seal unexpected
  err_has "unexpected argument"
  run 2 seal --manifest x
  err_has "--fingerprint is required"
  run 2 open --bogus
  err_has "unknown option --bogus"
  run 2 ceremony --threshold 3 --shares 2 --custodian a --custodian b --out k
  run 2 ceremony --threshold 1 --shares 2 --custodian a --custodian a --out k
  run 2 ceremony --threshold 1 --shares 1 --custodian a --out k --passphrase-file 2=x
  printf 'short\n' >private/pass1
  run 1 ceremony --threshold 1 --shares 1 --custodian a --out k --passphrase-file 1=private/pass1
  err_has "8..1024 bytes"
  # Share passphrases: 12 characters or more, and not guessable (the
  # dictionary estimate), from a file as from the terminal.
  for p in 'elevenchars' 'P@ssw0rd123456789' 'correct horse battery staple' \
           'iloveyou12345678' 'qwertyuiopasdfgh' 'a good passphrase'; do
    printf '%s\n' "$p" >private/pass1
    run 1 ceremony --threshold 1 --shares 1 --custodian a --out k --passphrase-file 1=private/pass1
    err_has "refusing a weak passphrase"
    [ ! -e k/custodian-1.share.json ] || fail "a share file was written under a weak passphrase"
  done
  # Production scrypt cost by default (N = 2^17); nothing is overwritten.
  printf 'a good passphrase: vortex quarry bivouac\n' >private/pass1
  run 0 ceremony --threshold 1 --shares 1 --custodian a --out keys --passphrase-file 1=private/pass1
  FPR=$(cat "$out")
  grep -q '"N": 131072' keys/custodian-1.share.json || fail "default scrypt N is not 131072"
  run 1 ceremony --threshold 1 --shares 1 --custodian a --out keys --passphrase-file 1=private/pass1
  err_has "already exists"
  # Weak and out-of-range secrets.
  SEAL=(seal --manifest $M --fingerprint "$FPR" --device d --volume v)
  for s in 00000000000000000000 abcdefghijklmnopqrstuvwxyz passwordpassword 1212121212121213; do
    printf '%s\n' "$s" >private/secret-weak.txt
    run 1 "${SEAL[@]}" --in private/secret-weak.txt
    err_has "low in entropy"
  done
  run 0 "${SEAL[@]}" --in private/secret-weak.txt --force
  printf 'x7#Kq\n' >private/secret-short.txt
  run 1 "${SEAL[@]}" --in private/secret-short.txt
  err_has "16..1024 bytes"
  head -c 1100 /dev/urandom >private/secret-long.txt
  run 1 "${SEAL[@]}" --in private/secret-long.txt --raw
  # part never contributes unconfirmed: no terminal and no --yes.
  printf 'Zq9-vR2m-Lp4x-Wt7c-Hb3n\n' >private/secret.txt
  run 0 "${SEAL[@]}" --in private/secret.txt --out env.b64
  run 0 request new --manifest $M --envelope env.b64 --device d --volume v --id r1 \
    --out req.json --key-out private/req.key
  run 2 part --request req.json --manifest $M --share keys/custodian-1.share.json \
    --passphrase-file private/pass1 --out p.json
  err_has "pass --yes"
  [ ! -e p.json ] || fail "part written without confirmation"
  ;;
offline)
  # part and open need no manifest (done by setup and roundtrip); a manifest
  # or fingerprint given is an extra pin that must agree.
  setup
  run_open 0 "${OPEN[@]}" --fingerprint "$FPR" part-1.json part-2.json part-3.json
  same "$out" private/secret.txt
  run 0 ceremony --threshold 2 --shares 2 --custodian x --custodian y --out other \
    --passphrase-file 1=private/pass1 --passphrase-file 2=private/pass2 --scrypt-n 1024
  OTHER_FPR=$(cat "$out")
  run_open 1 "${OPEN[@]}" --manifest other/escrow-key.json part-1.json part-2.json part-3.json
  err_has "another escrow key than the manifest's"
  run_open 1 "${OPEN[@]}" --fingerprint "$OTHER_FPR" part-1.json part-2.json part-3.json
  err_has "not the pinned --fingerprint"
  run 1 part --request req.json --share keys/custodian-1.share.json --manifest \
    other/escrow-key.json --passphrase-file private/pass1 --out x.json --yes
  err_has "another escrow key than the manifest's"
  run 1 part --request req.json --share keys/custodian-1.share.json --fingerprint \
    "$OTHER_FPR" --passphrase-file private/pass1 --out x.json --yes
  err_has "not the pinned --fingerprint"
  [ ! -e x.json ] || fail "a part was written against a pin"
  # A request whose envelope is sealed to another escrow key than the share's:
  # refused before the passphrase is asked.
  run 0 seal --manifest other/escrow-key.json --fingerprint "$OTHER_FPR" --device laptop-17 \
    --volume C: --in private/secret.txt --out env-other.b64
  run 0 request new --manifest other/escrow-key.json --envelope env-other.b64 \
    --device laptop-17 --volume C: --id req-o --out req-o.json --key-out private/req-o.key
  run 1 part --request req-o.json --share keys/custodian-1.share.json \
    --passphrase-file private/pass1 --out x.json --yes
  err_has "share file belongs to another escrow key ($FPR), not to the request's"
  err_lacks "Passphrase"
  [ ! -e x.json ] || fail "a part was written for another key's envelope"
  # The review's attack: the requester wraps laptop-17's envelope in a
  # request that names harmless-laptop.  Offline nothing contradicts the
  # name, so part says so and shows the envelope's digest; a custodian who
  # pins the digest of harmless-laptop's escrow record is refused.
  run 0 seal --manifest $M --fingerprint "$FPR" --device harmless-laptop --volume C: \
    --in private/secret.txt --out env-harmless.b64
  HARMLESS=$("$T" envelope-sha256 env-harmless.b64)
  VICTIM=$("$T" envelope-sha256 env.b64)
  run 0 request new --manifest $M --envelope env.b64 --device harmless-laptop --volume C: \
    --id req-evil --out req-evil.json --key-out private/req-evil.key
  for i in 1 2 3; do
    run 1 part --request req-evil.json --share keys/custodian-$i.share.json \
      --passphrase-file private/pass$i --out evil-$i.json --yes --envelope-sha256 "$HARMLESS"
    err_has "the request's envelope is not the pinned one; refusing"
    err_has "pinned (--envelope-sha256)  ${HARMLESS:0:4} ${HARMLESS:4:4}"
    err_lacks "Passphrase"
    [ ! -e evil-$i.json ] || fail "custodian $i contributed to the relabelled request"
  done
  # Without the pin, the custodian is told what is and is not verified.
  run 0 part --request req-evil.json --share keys/custodian-1.share.json \
    --passphrase-file private/pass1 --out evil-1.json --yes
  err_has "envelope SHA-256   ${VICTIM:0:4} ${VICTIM:4:4}"
  err_has "as named by the request: not verified offline"
  err_has "warning: --yes without --envelope-sha256"
  # The honest request with the right digest (either case) goes through.
  run 0 part --request req.json --share keys/custodian-4.share.json \
    --passphrase-file private/pass4 --out pin-4.json --yes \
    --envelope-sha256 "$(tr a-f A-F <<<"$VICTIM")"
  err_has "(matches --envelope-sha256)"
  err_lacks "warning: --yes"
  run_open 0 "${OPEN[@]}" pin-4.json part-2.json part-5.json
  same "$out" private/secret.txt
  run 2 part --request req.json --share keys/custodian-4.share.json --out y.json --yes \
    --envelope-sha256 abcd
  err_has "\-\-envelope-sha256 must be 64 hex digits"
  ;;
labels)
  # Device and volume names are shown to custodians: C1 controls and
  # invisible format characters (bidi overrides, zero-width) are refused.
  setup
  # (UTF-8 bytes spelled out: $'\u...' depends on the locale.)  U+202E RLO,
  # U+200B ZWSP, U+2066 LRI, U+009B CSI, U+FEFF BOM, U+200E LRM, a tab.
  for bad in $'evil\xe2\x80\xaelaptop' $'a\xe2\x80\x8bb' $'x\xe2\x81\xa6y' \
             $'c1\xc2\x9bz' $'bom\xef\xbb\xbf' $'lrm\xe2\x80\x8e' $'tab\tx'; do
    run 2 seal --manifest $M --fingerprint "$FPR" --device "$bad" --volume C: \
      --in private/secret.txt
    err_has "without control"
    run 2 request new --manifest $M --envelope env.b64 --device laptop-17 --volume "$bad" \
      --id req-b --out req-b.json --key-out private/req-b.key
    err_has "without control or invisible format characters"
  done
  [ ! -e req-b.json ] || fail "a request with a bidi label was written"
  # Accented and non-Latin names are fine.
  run 0 seal --manifest $M --fingerprint "$FPR" --device "Jürgens-MacBook-日本" --volume C: \
    --in private/secret.txt --out env-u.b64
  # A custodian name with a bidi override is refused by the ceremony.
  run 2 ceremony --threshold 1 --shares 1 --custodian $'al\xe2\x80\xaeice' --out k2 \
    --passphrase-file 1=private/pass1 --scrypt-n 1024
  ;;
files)
  SHIM=$EXTRA
  [ -n "$SHIM" ] && [ -f "$SHIM" ] || fail "no LD_PRELOAD shim"
  setup
  # The requester key is secret: never to stdout; nothing named "-".
  run 2 request new --manifest $M --envelope env.b64 --device laptop-17 --volume C: \
    --id req-s --out req-s.json --key-out -
  err_has "never written to standard output"
  [ ! -s "$out" ] && [ ! -e ./- ] && [ ! -e req-s.json ] || fail "key-out - wrote something"
  # Repeated single-value options are refused, --custodian may repeat.
  run 2 part --request req.json --share keys/custodian-1.share.json --out a.json --out b.json
  err_has "\-\-out given more than once"
  run 2 seal --manifest $M --fingerprint "$FPR" --device a --device b --volume C:
  err_has "\-\-device given more than once"
  run_open 2 "${OPEN[@]}" --key private/req.key part-1.json
  err_has "\-\-key given more than once"
  # Low scrypt cost: loudly.
  run 0 ceremony --threshold 1 --shares 1 --custodian z --out cheap \
    --passphrase-file 1=private/pass1 --scrypt-n 1024
  err_has "WARNING: --scrypt-n 1024 is below the default 131072"
  err_has "128 times cheaper"
  # A share file under the old default (N = 2^15) carries its parameters
  # and still opens.
  run 0 ceremony --threshold 1 --shares 1 --custodian z --out old \
    --passphrase-file 1=private/pass1 --scrypt-n 32768
  err_has "below the default 131072"
  grep -q '"N": 32768' old/custodian-1.share.json || fail "old-cost share file"
  run 0 share verify --manifest old/escrow-key.json --share old/custodian-1.share.json \
    --passphrase-file private/pass1
  run 0 ceremony --threshold 1 --shares 1 --custodian z --out dear \
    --passphrase-file 1=private/pass1 --scrypt-n 131072
  err_lacks "WARNING"
  # Output directories others can write to are refused.
  mkdir shared && chmod 777 shared
  run 1 seal --manifest $M --fingerprint "$FPR" --device d --volume v \
    --in private/secret.txt --out shared/env.b64
  err_has "directory shared is writable by everyone"
  chmod 775 shared
  run_open 1 "${OPEN[@]}" --out shared/secret part-1.json part-2.json part-3.json
  err_has "directory shared is writable by its group"
  [ -z "$(ls shared)" ] || fail "something was written into a shared directory"
  # No hard links (FAT, exFAT): renameat2(RENAME_NOREPLACE) instead.
  export KE_SHIM_LOG=$PWD/log/shim.log
  ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0
  export ASAN_OPTIONS
  LD_PRELOAD=$SHIM run 0 seal --manifest $M --fingerprint "$FPR" --device d --volume v \
    --in private/secret.txt --out fat-env.b64
  grep -q '^renameat2$' log/shim.log || fail "the rename fallback was not taken"
  [ "$(stat -c %a fat-env.b64)" = 644 ] || fail "fat-env.b64 mode"
  LD_PRELOAD=$SHIM run_open 0 "${OPEN[@]}" --out opened/fat-secret part-1.json part-2.json \
    part-3.json
  same opened/fat-secret private/secret.txt
  [ "$(stat -c %a opened/fat-secret)" = 600 ] || fail "opened/fat-secret mode"
  LD_PRELOAD=$SHIM run_open 1 "${OPEN[@]}" --out opened/fat-secret part-1.json part-2.json \
    part-3.json
  same opened/fat-secret private/secret.txt
  # And without renameat2 flags either: written in place with O_EXCL.
  : >log/shim.log
  KE_SHIM_NO_RENAMEAT2=1 LD_PRELOAD=$SHIM run 0 request new --manifest $M --envelope env.b64 \
    --device laptop-17 --volume C: --id req-x --out req-x.json --key-out private/req-x.key
  grep -q '^renameat2 refused$' log/shim.log || fail "the in-place fallback was not taken"
  [ "$(stat -c %a private/req-x.key)" = 600 ] || fail "req-x.key mode"
  [ "$(stat -c %a req-x.json)" = 644 ] || fail "req-x.json mode"
  unset KE_SHIM_LOG   # (never replacing a file on these paths: ctl_unit_fat*)
  run 0 part --request req-x.json --share keys/custodian-1.share.json \
    --passphrase-file private/pass1 --out x-1.json --yes
  [ -z "$(find . -name '*.tmp-*')" ] || fail "temporary files left behind"
  ;;
tty)
  # A secret typed at a terminal is not echoed; without a terminal, the
  # passphrase question is an error (1) that says what to do.
  setup
  printf 'Tq4-xW8n-Zr2m-Kp7v-Lc5b-Hd9s\n' >private/secret-typed.txt
  python3 "$HERE/tty_type.py" private/secret-typed.txt log/tty.transcript -- \
    "$E" seal --manifest $M --fingerprint "$FPR" --device typed --volume v --out env-t.b64 \
    || fail "seal at a terminal failed: $(cat log/tty.transcript)"
  grep -q "Secret to seal (not echoed)" log/tty.transcript || fail "no prompt"
  ! grep -q "Tq4-xW8n" log/tty.transcript || fail "the secret was echoed"
  run 0 request new --manifest $M --envelope env-t.b64 --device typed --volume v \
    --id req-t --out req-t.json --key-out private/req-t.key
  for i in 1 2 3; do part req-t.json $i t-$i.json; done
  run_open 0 --request req-t.json --key private/req-t.key t-1.json t-2.json t-3.json
  same "$out" private/secret-typed.txt
  run 1 part --request req.json --share keys/custodian-1.share.json --out nopass.json --yes
  err_has "stdin is not a terminal, use --passphrase-file"
  ;;
memlock)
  # Shares and keys live in locked memory: escrowctl creates OpenSSL's
  # secure heap (1 MiB, mlock'ed) before anything else.  Looked at while it
  # waits for its passphrase on a FIFO.
  if [ "$(id -u)" != 0 ] && [ "$(ulimit -l)" != unlimited ] && [ "$(ulimit -l)" -lt 1100 ]; then
    echo "SKIP: RLIMIT_MEMLOCK below 1 MiB"; exit 77
  fi
  printf 'a good passphrase: vortex quarry bivouac\n' >private/pass1
  run 0 ceremony --threshold 1 --shares 1 --custodian a --out keys \
    --passphrase-file 1=private/pass1 --scrypt-n 1024
  mkfifo private/fifo
  "$E" share verify --manifest $M --share keys/custodian-1.share.json \
    --passphrase-file private/fifo >log/memlock.out 2>log/memlock.err &
  pid=$!
  lck=
  for _ in $(seq 100); do
    lck=$(awk '/^VmLck:/ {print $2}' /proc/$pid/status 2>/dev/null || true)
    [ -n "$lck" ] && [ "$lck" -ge 1024 ] && break
    sleep 0.05
  done
  cat private/pass1 >private/fifo
  wait $pid || fail "share verify failed: $(cat log/memlock.err)"
  [ -n "$lck" ] && [ "$lck" -ge 1024 ] || fail "escrowctl locked ${lck:-no} kB, want >= 1024"
  ;;
valgrind)
  [ -n "$VALGRIND" ] || fail "no valgrind"
  VG=("$VALGRIND" -q --leak-check=full --errors-for-leak-kinds=definite,possible
      --error-exitcode=99)
  real=$E
  E_VG() { "${VG[@]}" "$real" "$@"; }
  E=E_VG
  setup
  run_open 0 "${OPEN[@]}" part-1.json part-2.json part-3.json
  same "$out" private/secret.txt
  "$T" tamper-part req.json private/req.key part-4.json bad-4.json
  run_open 3 "${OPEN[@]}" part-1.json bad-4.json
  ;;
*)
  fail "unknown case"
  ;;
esac
no_secrets
echo "ok [$CASE]"
