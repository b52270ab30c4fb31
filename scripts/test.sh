#!/usr/bin/env bash
# Builds hsmca twice — with -Werror, and with ASan+UBSan — and runs every test
# through ctest in both builds.  Installs missing Debian packages first.
# Usage: scripts/test.sh [ctest -R regex]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
. scripts/deps.sh
hsmca_install_deps
hsmca_install_promtool || echo "==> promtool is missing: the metrics checks will fail" >&2

jobs=${HSMCA_JOBS:-2}
# Most integration tests wait on servers, doubles and fsync rather than
# compute: one more test than cores keeps both cores busy.
test_jobs=${HSMCA_TEST_JOBS:-3}
filter=()
[ $# -gt 0 ] && filter=(-R "$1")
# Tests must not inherit a state directory or token from the caller.
unset HSMCA_HOME SOFTHSM2_CONF TPM2_PKCS11_STORE TPM2_PKCS11_TCTI || true
# Sanitizer options are set per test by tests/CMakeLists.txt.

start=$(date +%s)
status=0
for variant in werror asan; do
  dir="build/$variant"
  args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DHSMCA_WERROR=ON -DCMAKE_INSTALL_PREFIX=/usr)
  [ "$variant" = asan ] && args+=(-DHSMCA_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug)
  echo "==> [$variant] configure and build"
  cmake -S . -B "$dir" "${args[@]}" >/dev/null
  cmake --build "$dir" -j"$jobs" -- --no-print-directory >/dev/null
  echo "==> [$variant] ctest"
  # --no-tests=error: a REGEX that matches nothing is a failure, not a pass.
  if ! ctest --test-dir "$dir" -j"$test_jobs" --output-on-failure --no-tests=error --timeout 900 \
       "${filter[@]}"; then
    status=1
  fi
done
echo "==> scripts/test.sh finished in $(( $(date +%s) - start ))s, status $status"
exit $status
