# node_ci SRC_DIR DEST_DIR: install the packages pinned by SRC_DIR's
# package-lock.json (npm ci: integrity-checked, no install scripts) into
# DEST_DIR in the build tree, once per lockfile.  Sourced after lib.sh.
node_ci() {
  local src=$1 dest=$2
  command -v node >/dev/null && command -v npm >/dev/null || fail "node/npm missing: run scripts/deps.sh"
  if ! cmp -s "$src/package-lock.json" "$dest/package-lock.json" || [ ! -d "$dest/node_modules" ]; then
    mkdir -p "$dest"
    cp "$src/package.json" "$src/package-lock.json" "$dest/"
    ( cd "$dest" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 timeout 180 \
        npm ci --ignore-scripts --no-audit --no-fund --loglevel=error ) >"$TW/npm.log" 2>&1 ||
      fail "npm ci in $dest: $(tail -n 5 "$TW/npm.log")"
  fi
}
