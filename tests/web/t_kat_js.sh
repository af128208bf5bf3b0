#!/usr/bin/env bash
# The browser's crypto modules (web/js/) pass the known-answer vectors under
# node, byte for byte, and refuse the invalid points, scalars and inputs
# (kat_js.mjs): the very files escrowd serves (<build>/web), with the @noble
# packages of web/package-lock.json vendored next to them.
. "$KE_SRC/tests/server/lib.sh"
: "${KE_WEB_OUT:?}"
TW=$(mktemp -d)
trap 'rm -rf "$TW"' EXIT
# The modules as escrowd serves them: the build's vendored, flat copies
# (web/tools/vendor.mjs), which import each other by relative name only.
: "${KE_WEB_BUILT:?}"
[ -f "$KE_WEB_BUILT/kecrypto.js" ] || fail "$KE_WEB_BUILT has no kecrypto.js (the build's web target)"
mkdir -p "$TW/js"
cp "$KE_WEB_BUILT"/*.js "$TW/js/"
echo '{"type": "module"}' >"$TW/js/package.json"
log "$(ls "$TW/js" | grep -c '^noble-') @noble modules vendored"
node "$KE_SRC/tests/web/kat_js.mjs" "$TW/js" "$KE_SRC/tests/vectors/keyescrow-v1.json" ||
  fail "kat_js.mjs"
ok "the browser crypto, as served, passes the shared vectors"
