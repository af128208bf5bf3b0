#!/usr/bin/env bash
# The console's static route with curl, against a real escrowd whose web_dir
# is a copy of web/ plus traps: a symlink to a file outside it, a dotfile, a
# file with an unknown extension, a directory, an oversize file.
#   - /, /ui/console.js, /ui/console.css: 200, exact bytes, fixed MIME types
#   - every answer of these routes (404s included) carries the security
#     headers; the CSP has no 'unsafe-inline'
#   - traversal and odd names (.., encoded dots and slashes, NUL, backslash,
#     symlink, dotfile, directory, unknown extension): 404 JSON, nothing leaks
#   - POST/PUT/DELETE: 405 with Allow; HEAD works
#   - a server without web_dir: 404 JSON, the API unaffected
. "$KE_SRC/tests/server/lib.sh"
load_fixture

WEB=$TW/webroot
mkdir -p "$WEB/sub"
find "${KE_WEB_BUILT:?}" -maxdepth 1 -type f -exec cp {} "$WEB/" \;
echo "outside secret $$" >"$TW/outside.txt"
ln -s "$TW/outside.txt" "$WEB/link.txt"
echo "hidden $$" >"$WEB/.hidden.txt"
echo "conf $$" >"$WEB/notes.conf"
echo "in sub $$" >"$WEB/sub/x.txt"
head -c $((3 * 1024 * 1024)) /dev/zero >"$WEB/big.txt"
start_daemon web "$KE_ESCROWD" ESCROWD_WEB_DIR="$WEB" -- serve
U=http://127.0.0.1:$PORT_web

# expect_console_headers WHAT: the security headers of every console answer.
expect_console_headers() {
  expect_header "^Content-Security-Policy: default-src 'self'; " "$1: CSP"
  grep -qi "unsafe-inline\|unsafe-eval" "$HDRF" && fail "$1: the CSP allows inline code"
  expect_header "^Content-Security-Policy: .*frame-ancestors 'none'" "$1: CSP frame-ancestors"
  expect_header '^X-Frame-Options: DENY' "$1: X-Frame-Options"
  expect_header '^X-Content-Type-Options: nosniff' "$1: nosniff"
  expect_header '^Referrer-Policy: no-referrer' "$1: Referrer-Policy"
  expect_header '^Cache-Control: no-store' "$1: Cache-Control"
  [ "$(grep -ci '^Cache-Control:' "$HDRF")" = 1 ] || fail "$1: one Cache-Control header"
}

# --- the files ------------------------------------------------------------
http GET "$U/"
expect_status 200 "GET /"
expect_header '^Content-Type: text/html; charset=utf-8' "GET / type"
cmp -s "$BODYF" "$KE_SRC/web/index.html" || fail "GET / is not web/index.html"
expect_console_headers "GET /"
for f in index.html:text/html console.js:text/javascript console.css:text/css; do
  http GET "$U/ui/${f%%:*}"
  expect_status 200 "GET /ui/${f%%:*}"
  expect_header "^Content-Type: ${f#*:}; charset=utf-8" "/ui/${f%%:*} type"
  cmp -s "$BODYF" "$KE_SRC/web/${f%%:*}" || fail "/ui/${f%%:*} differs from web/"
  expect_console_headers "/ui/${f%%:*}"
done
http HEAD "$U/ui/console.js" -I
expect_status 200 "HEAD /ui/console.js"
# The browser modules and the @noble files vendored by the build, same origin.
for f in kecrypto.js keretrieval.js kelog.js noble-curves-nist.js; do
  http GET "$U/ui/$f"
  expect_status 200 "GET /ui/$f"
  expect_header "^Content-Type: text/javascript; charset=utf-8" "/ui/$f type"
  cmp -s "$BODYF" "$KE_WEB_BUILT/$f" || fail "/ui/$f differs from the build's"
done
python3 - "$KE_WEB_BUILT" <<'PY' || fail "a served module imports something that is not a flat same-origin file"
import os, re, sys
d = sys.argv[1]
n = 0
for f in os.listdir(d):
    if not f.endswith(".js"):
        continue
    src = re.sub(r"/\*.*?\*/", "", open(os.path.join(d, f)).read(), flags=re.S)
    for spec in re.findall(r"""(?m)^\s*(?:import|export)\b[^;]*?\bfrom\s*['"]([^'"]+)['"]""", src):
        assert re.fullmatch(r"\./[A-Za-z0-9][A-Za-z0-9._-]*\.js", spec) and \
            os.path.isfile(os.path.join(d, spec[2:])), (f, spec)
        n += 1
assert n >= 10, n
PY
ok "/, /ui/index.html, /ui/console.js, /ui/console.css and the browser modules served byte-exact with fixed types and the security headers"

# The pages carry no inline script, style or event handler (the CSP would
# block them: the console must not depend on that).
python3 - "$KE_SRC/web/index.html" <<'PY' || fail "inline code in web/index.html"
import re, sys
s = open(sys.argv[1]).read()
bad = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>|<style|\bon[a-z]+\s*=|javascript:|style\s*=", s, re.I)
sys.exit(1 if bad else 0)
PY
grep -nE 'innerHTML|outerHTML|insertAdjacentHTML|document\.write|(^|[^A-Za-z])eval\(|new Function|setTimeout\(\s*["'\'']' \
  "$KE_SRC/web/console.js" && fail "console.js uses an HTML or code sink"
ok "no inline script/style/handler in index.html; no innerHTML/eval sink in console.js"

# --- names that must not be served -------------------------------------------
# curl --path-as-is sends the path untouched (no dot-segment folding).
probe() {  # PATH WHAT
  http GET "$U$1" --path-as-is
  [ "$STATUS" = 404 ] || [ "$STATUS" = 400 ] || fail "$2 ($1): HTTP $STATUS"
  python3 -c 'import json,sys; b=json.load(open(sys.argv[1])); assert set(b)=={"error"} and b["error"]["code"] in ("not_found","bad_request")' \
    "$BODYF" 2>/dev/null || fail "$2 ($1): not a JSON error"
  grep -q "outside secret\|hidden $$\|conf $$\|in sub $$\|keyescrow_app\|root:" "$BODYF" &&
    fail "$2 ($1): leaked file content"
  return 0
}
probe "/ui/.." "dot-dot"
probe "/ui/../../etc/passwd" "dot-dot path"
probe "/ui/..%2f..%2fetc%2fpasswd" "encoded slashes"
probe "/ui/%2e%2e" "encoded dot-dot"
probe "/ui/%2e%2e%2foutside.txt" "encoded traversal"
probe "/ui/..%5c..%5coutside.txt" "encoded backslashes"
probe "/ui/console.js%00.txt" "NUL"
probe "/ui/%00" "NUL only"
probe "/ui/link.txt" "symlink out of web_dir"
probe "/ui/.hidden.txt" "dotfile"
probe "/ui/notes.conf" "unknown extension"
probe "/ui/sub" "directory"
probe "/ui/sub/x.txt" "subdirectory"
probe "/ui/sub%2fx.txt" "encoded slash into a subdirectory"
probe "/ui/big.txt" "oversize file"
probe "/ui/missing.js" "missing file"
probe "/ui/" "empty name"
probe "/ui" "no name"
probe "//ui/console.js" "double slash"
probe "/ui/console.js/" "trailing slash"
probe "/ui/-x.js" "leading dash"
probe "/ui/$(printf 'a%.0s' $(seq 1 70)).js" "overlong name"
probe "/index.html" "file outside /ui/"
# The 404s of the console route carry the headers too.
http GET "$U/ui/missing.js"
expect_console_headers "404 of /ui/"
ok "traversal, encoded slashes/dots, NUL, symlink, dotfile, directory, oversize, unknown type: 404 JSON, nothing leaked"

# --- methods -------------------------------------------------------------------
for m in POST PUT DELETE PATCH; do
  http "$m" "$U/ui/console.js"
  expect_status 405 "$m /ui/console.js"
  expect_error method_not_allowed "$m /ui/console.js"
  expect_header '^Allow: GET, HEAD' "$m Allow"
  http "$m" "$U/"
  expect_status 405 "$m /"
done
ok "POST/PUT/DELETE/PATCH: 405 method_not_allowed with Allow: GET, HEAD"

# --- a server whose web_dir is missing ----------------------------------------
start_daemon noweb "$KE_ESCROWD" ESCROWD_WEB_DIR="$TW/nonexistent" -- serve
grep -q '"web_dir cannot be opened' "$TW/noweb.log" || fail "no warning about the missing web_dir"
http GET "http://127.0.0.1:$PORT_noweb/"
expect_status 404 "console without web_dir"
expect_error not_found "console without web_dir"
http GET "http://127.0.0.1:$PORT_noweb/healthz"
expect_status 200 "API without web_dir"
stop_daemon noweb
stop_daemon web
ok "without web_dir: a logged warning, 404 JSON for the console, the API serves; clean stops"
