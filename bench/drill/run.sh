#!/usr/bin/env bash
# bench/drill/run.sh [BUILD_DIR] - the custodians' batch part computation of
# a drill over 200 records with 3 custodians (600 parts: DLEQ proof + seal
# each, the loop of `escrowctl drill approve`), as a ratio to the time
# `openssl speed -seconds 2 ecdhp256` needs for the same number (600) of
# P-256 ECDH operations, both measured in this run.  Target: at most 2.
# Knobs: BENCH_RECORDS (default 200), BENCH_CUSTODIANS (default 3).  Not part
# of CTest: timings are not tests.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=$(cd "${1:-build}" && pwd)
B=$BUILD/bench/drill/bench-drill
[ -x "$B" ] || { echo "run.sh: $B not found; build first (cmake --build $BUILD)" >&2; exit 1; }
N=${BENCH_RECORDS:-200}
C=${BENCH_CUSTODIANS:-3}
out=$("$B" "$N" "$C")
parts=$(echo "$out" | awk '{print $2}')
secs=$(echo "$out" | awk '{print $4}')
ops=$(openssl speed -seconds 2 ecdhp256 2>/dev/null | awk '/nistp256/ {v=$NF} END {print v}')
[ -n "$ops" ] || { echo "run.sh: cannot read openssl speed ecdhp256" >&2; exit 1; }
python3 - "$parts" "$secs" "$ops" <<'PY'
import sys
parts, secs, ops = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
ref = parts / ops
print("drill parts: %d in %.3f s (%.0f/s)" % (parts, secs, parts / secs))
print("openssl ecdhp256: %.0f op/s -> %.3f s for %d operations" % (ops, ref, parts))
print("ratio per part: %.2f (target <= 2)" % (secs / ref))
# A part is five P-256 scalar multiplications (P_i = d_i*R; the proof's
# w*G and w*R; the seal's k*G and k*E): the same time against as many
# ECDH operations as multiplications, to tell the curve from the code.
print("ratio per scalar multiplication (5 per part): %.2f" % (secs / (5 * ref)))
PY
