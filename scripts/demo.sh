#!/usr/bin/env bash
# Set-up, then the main job on the built-in default data: train the zoo CNN on Fashion-MNIST for
# two epochs, evaluate it on the test split, and audit it (quick budget, 200 test images).
# Builds only the advtk command (scripts/test.sh builds the tests); says how long each step took.
# Outputs go to runs/demo/ (the report: runs/demo/audit/report.html).
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
out="${ADVTK_DEMO_OUT:-runs/demo}"
step() {  # LABEL COMMAND...: runs it, reports its time on stderr, returns its exit code
  local label="$1" start=$SECONDS rc=0
  shift
  "$@" || rc=$?
  echo "demo: $label took $((SECONDS - start)) s" >&2
  return "$rc"
}
step "set-up and build" env ADVTK_TARGET=advtk scripts/setup.sh
step "training" build/advtk train --arch cnn --data fashion-mnist --epochs 2 --out "$out"
step "evaluation" build/advtk eval "$out/model.pt" --data fashion-mnist --split test
rm -rf "$out/audit"  # a fresh audit of the model just trained
# The audit exits 3 when its gate fails (a masking verdict): a result, not a failure of the demo.
code=0
step "audit" build/advtk audit "$out/model.pt" --data fashion-mnist --budget quick \
  --out "$out/audit" || code=$?
[ "$code" -eq 0 ] || [ "$code" -eq 3 ] || exit "$code"
echo "demo: done in $SECONDS s; the report is $out/audit/report.html (also report.md, report.json)"
