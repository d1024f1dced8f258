#!/usr/bin/env bash
# Set-up, then every test with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export OMP_WAIT_POLICY=PASSIVE
ctest --test-dir build --output-on-failure -j"${ADVTK_TEST_JOBS:-2}" "$@"
