#!/usr/bin/env bash
# Configuration: file + ESCROWD_* overrides, --help documents every key, the
# docs and the sample config list every key, errors are precise.
. "$(dirname "$0")/lib.sh"
load_fixture
E=$KE_ESCROWD
# The fixture exports DSNs; this test wants only its own settings.
unset ESCROWD_DB_DSN ESCROWD_DB_OWNER_DSN

"$E" --version | grep -Eq '^escrowd [0-9]+\.[0-9]+\.[0-9]+$' || fail "--version"
"$E" --help >"$TW/help" || fail "--help exit status"
"$E" config --keys >"$TW/keys" || fail "config --keys"
[ "$(wc -l <"$TW/keys")" -ge 15 ] || fail "too few keys"
while read -r k; do
  env=ESCROWD_$(echo "$k" | tr a-z A-Z)
  grep -q "^  $k  ($env)" "$TW/help" || fail "--help does not document $k"
  grep -Eq "^#?$k = " "$KE_SRC/server/escrowd.conf.sample" || fail "escrowd.conf.sample lacks $k"
  grep -q "\`$k\`" "$KE_SRC/docs/operations.md" || fail "docs/operations.md lacks $k"
done <"$TW/keys"
for c in serve migrate config; do grep -q "^  $c" "$TW/help" || fail "--help lacks command $c"; done
ok "--help, the sample config and docs/operations.md cover every key"

cat >"$TW/a.conf" <<CONF
# comment
port = 9999
listen_address = "::1"
log_level = debug
db_dsn = dbname=x user=y password=hunter2
CONF
ESCROWD_PORT=7777 "$E" --config "$TW/a.conf" config >"$TW/out" 2>"$TW/err" || fail "config: $(cat "$TW/err")"
grep -q '^port = 7777    # env$' "$TW/out" || fail "env does not override the file"
grep -q '^listen_address = ::1    # file$' "$TW/out" || fail "quoted file value"
grep -q '^threads = 4    # default$' "$TW/out" || fail "default"
grep -q 'hunter2' "$TW/out" && fail "a DSN password was printed"
grep -q 'password=\*\*\*' "$TW/out" || fail "password not masked"
ESCROWD_CONFIG="$TW/a.conf" "$E" config | grep '^port = 9999    # file$' >/dev/null || fail "ESCROWD_CONFIG"
ESCROWD_PROT=1 "$E" --config "$TW/a.conf" config 2>&1 >/dev/null | grep 'unknown environment variable ESCROWD_PROT' >/dev/null ||
  fail "typo in an env var not reported"
ok "file, env override, quoting, masking, ESCROWD_CONFIG, unknown-variable warning"

bad() {  # expected-message file-content
  printf '%s\n' "$2" >"$TW/bad.conf"
  rc=0; "$E" --config "$TW/bad.conf" config >/dev/null 2>"$TW/err" || rc=$?
  [ $rc -eq 2 ] && grep -q "$1" "$TW/err" || fail "bad config <$2>: status $rc, $(cat "$TW/err")"
}
bad "bad.conf:2: unknown key 'prot'" $'port = 1\nprot = 2'
bad "not an integer in \[0, 65535\]" 'port = 70000'
bad "not an integer" 'threads = 4x'
bad "not an integer" 'threads = -1'
bad "set twice" $'port = 1\nport = 2'
bad "expected 'key = value'" 'port 8080'
bad "not one of debug" 'log_level = loud'
bad '10.0.0.300.. is not an IPv4 or IPv6 address' 'trusted_proxies = 10.0.0.1, 10.0.0.300'
rc=0; "$E" --config "$TW/nonexistent.conf" config >/dev/null 2>"$TW/err" || rc=$?
[ $rc -eq 2 ] && grep -q 'cannot open config file' "$TW/err" || fail "missing explicit config file"
rc=0; "$E" frobnicate >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "unknown command status $rc"
rc=0; "$E" serve extra >/dev/null 2>&1 || rc=$?
[ $rc -eq 2 ] || fail "extra argument status $rc"
ok "configuration and usage errors: exit 2 with file:line messages"

# docs/api.yaml lists exactly the codes of the error registry.
codes=$(sed -n 's/^SRV_ERR([A-Z_]*, *"\([a-z_]*\)".*/\1/p' "$KE_SRC/server/srv_errors.def")
[ "$(echo "$codes" | wc -l)" -ge 10 ] || fail "cannot read srv_errors.def"
for c in $codes; do
  grep -q "^        - $c\$" "$KE_SRC/docs/api.yaml" || fail "docs/api.yaml lacks error code $c"
  grep -q "^        | $c | " "$KE_SRC/docs/api.yaml" || fail "docs/api.yaml does not describe $c"
done
[ "$(sed -n '/^    ErrorCode:/,/^    Error:/p' "$KE_SRC/docs/api.yaml" | grep -c '^        - ')" = "$(echo "$codes" | wc -l)" ] ||
  fail "docs/api.yaml lists error codes that the registry does not have"
ok "docs/api.yaml matches the error registry"

# docs/api.yaml documents every route of the route table, method and path.
ESCROWD_CONFIG=/dev/null "$E" routes --json >"$TW/routes.json" || fail "escrowd routes --json"
python3 - "$TW/routes.json" "$KE_SRC/docs/api.yaml" <<'PY2' || fail "docs/api.yaml does not document every route"
import json, re, sys
routes = json.load(open(sys.argv[1]))
paths, cur = {}, None
for line in open(sys.argv[2]):
    m = re.match(r"^  (/\S*):\s*$", line)
    if m:
        cur = m.group(1)
        paths[cur] = set()
        continue
    m = re.match(r"^    (get|put|post|delete|patch):", line)
    if m and cur:
        paths[cur].add(m.group(1).upper())
    if re.match(r"^\S", line):
        cur = None
missing = [f"{r['method']} {r['pattern']}" for r in routes
           if r["method"] not in paths.get(r["pattern"], set())]
if len(routes) < 20 or missing:
    sys.exit("undocumented routes: %s (of %d)" % (", ".join(missing), len(routes)))
PY2
ok "docs/api.yaml documents every route"
