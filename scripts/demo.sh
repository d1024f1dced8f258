#!/usr/bin/env bash
# Set-up, then the main job on the built-in default data: train the zoo CNN on Fashion-MNIST for
# two epochs and evaluate it on the test split. Outputs go to runs/demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export OMP_WAIT_POLICY=PASSIVE
out="${ADVTK_DEMO_OUT:-runs/demo}"
build/advtk train --arch cnn --data fashion-mnist --epochs 2 --out "$out"
build/advtk eval "$out/model.pt" --data fashion-mnist --split test
