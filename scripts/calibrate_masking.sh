#!/usr/bin/env bash
# The masking verdict's calibration on honest models: zoo architectures trained plainly and with
# PGD-AT, checked at several budgets and norms. Prints, per run, plain PGD's robust accuracy, the
# ladder's, the drop (the figure kLadderDropEvidence must stay above) and the verdict. A
# benchmark, not a test: it trains models (about 30-40 min on 2 cores at the defaults below).
#
#   scripts/calibrate_masking.sh [ARCH...]      default: mlp lenet cnn resnet
#   CAL_LIMIT (5000 training images), CAL_EPOCHS (2), CAL_POINTS (200 points per check)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
export OMP_WAIT_POLICY=PASSIVE
out="${CAL_OUT:-runs/calibrate-masking}"
limit="${CAL_LIMIT:-5000}"
epochs="${CAL_EPOCHS:-2}"
points="${CAL_POINTS:-200}"
archs="${*:-mlp lenet cnn resnet}"
mkdir -p "$out"
printf "%-8s %-6s %-5s %-6s %8s %8s %7s  %s\n" arch train norm eps pgd% ladder% drop verdict
for arch in $archs; do
  for how in plain pgd; do
    model="$out/$arch-$how"
    if [ ! -f "$model/model.pt" ]; then
      extra=()
      [ "$how" = pgd ] && extra=(--adversarial pgd --eps 0.1 --attack-steps 7 --attack-step-size 0.025)
      build/advtk train --arch "$arch" --data fashion-mnist --limit "$limit" --epochs "$epochs" \
        --batch-size 128 "${extra[@]}" --out "$model" --quiet >/dev/null
    fi
    for budget in "linf 0.05" "linf 0.1" "l2 1" "l1 5"; do
      set -- $budget
      dir="$out/$arch-$how-$1-$2"
      code=0
      build/advtk masking "$model/model.pt" --data fashion-mnist --split test --norm "$1" \
        --eps "$2" --points "$points" --expensive-points 50 --queries 1000 --noise-draws 1000 \
        --out "$dir" --quiet >/dev/null 2>&1 || code=$?
      if [ "$code" -ne 0 ] && [ "$code" -ne 3 ]; then
        echo "$arch $how $1 $2: masking failed (exit $code)"
        continue
      fi
      python3 - "$dir/masking.json" "$arch" "$how" "$1" "$2" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
pgd, ladder = j["pgd_robust_accuracy"], j["adaptive_robust_accuracy"]
print("%-8s %-6s %-5s %-6s %7.1f%% %7.1f%% %6.1f  %s" % (sys.argv[2], sys.argv[3], sys.argv[4],
      sys.argv[5], 100 * pgd, 100 * ladder, 100 * (pgd - ladder), j["verdict"]))
EOF
    done
  done
done
