#!/usr/bin/env bash
# The browser's crypto modules (web/js/) pass the known-answer vectors under
# node, byte for byte, and refuse the invalid points, scalars and inputs
# (kat_js.mjs).  The modules run next to the @noble packages installed from
# web/package-lock.json, as the browser gets them.
. "$KE_SRC/tests/server/lib.sh"
. "$KE_SRC/tests/web/node_lib.sh"
: "${KE_WEB_OUT:?}"
TW=$(mktemp -d)
trap 'rm -rf "$TW"' EXIT
JS=$KE_WEB_OUT/webjs
node_ci "$KE_SRC/web" "$JS"
rm -rf "$JS/js" && mkdir -p "$JS/js" && cp "$KE_SRC"/web/js/*.js "$JS/js/"
log "@noble/curves $(node -p "require('$JS/node_modules/@noble/curves/package.json').version")"
node "$KE_SRC/tests/web/kat_js.mjs" "$JS/js" "$KE_SRC/tests/vectors/keyescrow-v1.json" ||
  fail "kat_js.mjs"
ok "the browser crypto passes the shared vectors"
