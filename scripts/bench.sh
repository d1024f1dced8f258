#!/usr/bin/env bash
# Benchmarks quoted in the README: data loading, and the reference training run (zoo CNN on
# Fashion-MNIST, 2 epochs, defaults). Medians of repeated runs where they are cheap.
# OMP_WAIT_POLICY=PASSIVE: OpenMP spin-waiting made runs up to 8x slower on shared machines.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export OMP_WAIT_POLICY=PASSIVE
out="${ADVTK_BENCH_OUT:-runs/bench}"
mkdir -p "$out"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "== data loading (median of 5) =="
for split in train test; do
  for i in 1 2 3 4 5; do
    build/advtk data --data fashion-mnist --split "$split" --json | grep load_seconds | tr -dc '0-9.\n'
  done | median | xargs printf "fashion-mnist %-5s %.3f s\n" "$split"
done

echo "== attack engine vs its floor (first 1,000 test images, batch 250, Linf eps 0.1) =="
model="$out/cnn/model.pt"
if [ ! -f "$model" ]; then
  build/advtk train --arch cnn --data fashion-mnist --epochs 2 --out "$out/cnn" --quiet
fi
build/advtk bench "$model" --limit 1000 --batch-size 250 --attacks fgsm,pgd --eps 0.1 --repeats 3
for a in "pgd --eps 0.1 --steps 40 --step-size 0.01" "deepfool" "cw"; do
  echo "-- advtk attack --attack $a"
  build/advtk attack "$model" --limit 1000 --batch-size 250 --attack $a --out "$out/attack" --quiet
done

echo "== AutoAttack suite (first 200 test images, Linf eps 0.1) =="
for a in "autoattack --eps 0.1" "apgd --eps 0.05" "pgd --eps 0.05 --steps 40 --step-size 0.01"; do
  echo "-- advtk attack --attack $a"
  build/advtk attack "$model" --limit 200 --attack $a --out "$out/suite" --quiet
done
build/advtk attack "$model" --limit 100 --attack square --eps 0.1 --out "$out/square" --quiet

echo "== training: advtk train --arch cnn --data fashion-mnist --epochs 2 =="
start=$(date +%s.%N)
build/advtk train --arch cnn --data fashion-mnist --epochs 2 --out "$out/cnn" --quiet
end=$(date +%s.%N)
awk -v s="$start" -v e="$end" 'BEGIN {printf "wall time %.1f s\n", e - s}'
