#!/usr/bin/env bash
# Benchmarks quoted in the README. Medians of repeated runs where they are cheap.
# OMP_WAIT_POLICY=PASSIVE: OpenMP spin-waiting made runs up to 8x slower on shared machines.
#
#   scripts/bench.sh [SECTION...]   sections: data engine suite train adversarial audit
#                                   (default: all)
#
# `adversarial` trains the PGD-AT reference model (4 epochs of 60,000 images, about 20 min on
# 2 cores) and runs PGD-40 and AutoAttack on it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export OMP_WAIT_POLICY=PASSIVE
out="${ADVTK_BENCH_OUT:-runs/bench}"
mkdir -p "$out"

sections="${*:-data engine suite train adversarial audit}"
want() { [[ " $sections " == *" $1 "* ]]; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
timed() {
  local start end
  start=$(date +%s.%N)
  "$@"
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" 'BEGIN {printf "wall time %.1f s\n", e - s}'
}
build/advtk --version

model="$out/cnn/model.pt"
if ! want train && [ ! -f "$model" ]; then
  build/advtk train --arch cnn --data fashion-mnist --epochs 2 --batch-size 128 --out "$out/cnn" --quiet
fi

if want data; then
echo "== data loading (median of 5) =="
for split in train test; do
  for i in 1 2 3 4 5; do
    build/advtk data --data fashion-mnist --split "$split" --json | grep load_seconds | tr -dc '0-9.\n'
  done | median | xargs printf "fashion-mnist %-5s %.3f s\n" "$split"
done
fi

if want train; then
echo "== training: advtk train --arch cnn --data fashion-mnist --epochs 2 --batch-size 128 =="
timed build/advtk train --arch cnn --data fashion-mnist --epochs 2 --batch-size 128 \
  --out "$out/cnn" --quiet
cat "$out/cnn/history.csv"
fi

if want engine; then
echo "== attack engine vs its floor (first 1,000 test images, batch 250, Linf eps 0.1) =="
build/advtk bench "$model" --limit 1000 --batch-size 250 --attacks fgsm,pgd --eps 0.1 --repeats 3
for a in "pgd --eps 0.1 --steps 40 --step-size 0.01" "deepfool" "cw"; do
  echo "-- advtk attack --attack $a"
  build/advtk attack "$model" --limit 1000 --batch-size 250 --attack $a --out "$out/attack" --quiet
done
fi

if want suite; then
echo "== AutoAttack suite (first 200 test images, Linf eps 0.1) =="
for a in "autoattack --eps 0.1" "apgd --eps 0.05" "pgd --eps 0.05 --steps 40 --step-size 0.01"; do
  echo "-- advtk attack --attack $a"
  build/advtk attack "$model" --limit 200 --attack $a --out "$out/suite" --quiet
done
build/advtk attack "$model" --limit 100 --attack square --eps 0.1 --out "$out/square" --quiet
fi

if want adversarial; then
echo "== adversarial training: PGD-AT, 7 steps of 0.025, Linf eps 0.1, Adam, 4 epochs =="
echo "-- one epoch on the first 10,000 training images: clean, then PGD-7 (time per epoch)"
for a in "" "--adversarial pgd --eps 0.1 --attack-steps 7 --attack-step-size 0.025"; do
  build/advtk train --arch cnn --data fashion-mnist --limit 10000 --epochs 1 --batch-size 128 \
    --val-size 1000 $a --out "$out/epoch" --quiet
  cut -d, -f1,4,6,8,10 "$out/epoch/history.csv"
done
echo "-- the full run"
timed build/advtk train --arch cnn --data fashion-mnist --epochs 4 --batch-size 128 \
  --adversarial pgd --eps 0.1 --attack-steps 7 --attack-step-size 0.025 --out "$out/cnn-pgd" --quiet
cat "$out/cnn-pgd/history.csv"
for a in "pgd --steps 40 --step-size 0.01 --limit 1000" "autoattack --limit 200"; do
  echo "-- advtk attack --attack $a --eps 0.1 (PGD-trained model)"
  build/advtk attack "$out/cnn-pgd/model.pt" --attack $a --eps 0.1 --out "$out/pgd-model" --quiet
done
fi

if want audit; then
echo "== advtk audit --budget quick (first 200 test images, Linf 0.05/0.1/0.2) =="
rm -rf "$out/audit"
timed build/advtk audit "$model" --budget quick --out "$out/audit" --quiet
fi
