#!/usr/bin/env bash
# Install dependencies, build, and run every test suite:
#   1. the release build            (build/)
#   2. the ASan+UBSan build          (build-asan/)
#   3. the libFuzzer targets, a short run each (build-fuzz/, clang)
# Exits non-zero on the first failure.  CTest prints its summary for each.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
JOBS=$(nproc 2>/dev/null || echo 2)

./scripts/deps.sh

run_suite() {   # name builddir cmake-args...
  local name=$1 dir=$2; shift 2
  echo "==> [$name] configure"
  cmake -S "$ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  echo "==> [$name] build"
  cmake --build "$dir" -j "$JOBS"
  echo "==> [$name] test"
  # No retries: a test that fails once is a bug to fix, not to re-run away.
  (cd "$dir" && ctest --output-on-failure --timeout 600 -j "$JOBS")
}

run_suite release "$ROOT/build"
# Sanitizer errors must abort the test that hit them, never scroll past.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:strict_string_checks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
run_suite asan "$ROOT/build-asan" -DKE_SANITIZE=ON
CC=clang-14 run_suite fuzz "$ROOT/build-fuzz" -DKE_FUZZ=ON -DKE_BUILD_TESTS=ON \
  -DCMAKE_C_COMPILER=clang-14
echo "==> all suites passed"
