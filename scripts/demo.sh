#!/usr/bin/env bash
# Set-up, then the main job on the built-in default data: train the zoo CNN on Fashion-MNIST for
# two epochs, evaluate it on the test split, and audit it (quick budget, 200 test images).
# Outputs go to runs/demo/ (the report: runs/demo/audit/report.html).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export OMP_WAIT_POLICY=PASSIVE
out="${ADVTK_DEMO_OUT:-runs/demo}"
build/advtk train --arch cnn --data fashion-mnist --epochs 2 --out "$out"
build/advtk eval "$out/model.pt" --data fashion-mnist --split test
rm -rf "$out/audit"  # a fresh audit of the model just trained
build/advtk audit "$out/model.pt" --data fashion-mnist --budget quick --out "$out/audit"
