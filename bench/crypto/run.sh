#!/usr/bin/env bash
# Run bench-crypto next to `openssl speed ecdhp256` on the same machine and
# print each keyescrow rate as a ratio to one P-256 ECDH (ops/s).
# usage: bench/crypto/run.sh [BUILD_DIR]   (default: build)
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
BIN="$BUILD/bench/crypto/bench-crypto"
if [ ! -x "$BIN" ]; then
  echo "run.sh: $BIN not found; build first (cmake --build $BUILD --target bench-crypto)" >&2
  exit 1
fi
# The ecdh line looks like: " 256 bits ecdh (nistp256)   0.0000s  28720.4"
ECDH=$(openssl speed -seconds 2 ecdhp256 2>/dev/null |
       awk '/ecdh \(nistp256\)/ { print $NF }' | tail -n 1)
case "$ECDH" in
  ''|*[!0-9.]*) echo "run.sh: could not read ops/s from openssl speed" >&2; exit 1 ;;
esac
exec "$BIN" -t 2 -r "$ECDH"
