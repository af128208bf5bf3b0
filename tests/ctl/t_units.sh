#!/usr/bin/env bash
# t_units.sh UNIT BINARY WORKDIR - a systemd unit of ours is valid
# (systemd-analyze verify, with ExecStart pointed at this build's binary)
# and keeps the hardening the docs promise.
set -euo pipefail
UNIT=$1 BIN=$2 W=$3
rm -rf "$W" && mkdir -p "$W"
fail() { echo "[units] FAIL: $*"; exit 1; }
command -v systemd-analyze >/dev/null || fail "systemd-analyze missing: run scripts/deps.sh"
u=$W/$(basename "$UNIT")
sed -E "s#^(ExecStart(Pre)?=(/usr/bin/env [^ ]* )?)[^ ]*/(escrowd|escrowctl)#\1$BIN#" "$UNIT" >"$u"
systemd-analyze verify "$u" >"$W/verify.out" 2>&1 || fail "systemd-analyze verify: $(cat "$W/verify.out")"
# Anything systemd warns about (an unknown directive, a bad specifier) is a bug.
[ ! -s "$W/verify.out" ] || fail "systemd-analyze warns: $(cat "$W/verify.out")"
for d in DynamicUser=yes ProtectSystem=strict NoNewPrivileges=yes MemoryDenyWriteExecute=yes \
         LockPersonality=yes CapabilityBoundingSet= LimitCORE=0 LoadCredential=; do
  grep -q "^$d" "$u" || fail "$(basename "$UNIT") lacks $d"
done
echo "[units] ok: $(basename "$UNIT") verifies and is hardened"
