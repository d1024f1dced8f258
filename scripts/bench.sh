#!/usr/bin/env bash
# Benchmarks quoted in the README. Medians of repeated runs where they are cheap.
# OMP_WAIT_POLICY=PASSIVE: OpenMP spin-waiting made runs up to 8x slower on shared machines.
#
#   scripts/bench.sh [SECTION...]   sections: data engine suite train adversarial audit leak backdoor
#                                   distributed (default: all)
#
# `adversarial` trains the PGD-AT reference model (4 epochs of 60,000 images, about 20 min on
# 2 cores) and runs PGD-40 and AutoAttack on it.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
export OMP_WAIT_POLICY=PASSIVE
out="${ADVTK_BENCH_OUT:-runs/bench}"
mkdir -p "$out"

sections="${*:-data engine suite train adversarial audit leak backdoor distributed}"
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
build/advtk bench "$model" --limit 200 --batch-size 200 --attacks apgd,autoattack --eps 0.1 --repeats 1
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

if want leak; then
echo "== gradient leakage: advtk leak on untrained networks (the papers' setting), first 8 test images =="
build/advtk train --arch dlg-lenet --epochs 0 --out "$out/dlg-lenet" --quiet
build/advtk train --arch mlp --epochs 0 --out "$out/mlp0" --quiet
build/advtk train --arch cnn --epochs 0 --out "$out/cnn0" --quiet
leak() {  # MODEL ARGS...: one table row per defense
  local m="$1"; shift
  echo "-- advtk leak $(basename "$(dirname "$m")") $*"
  build/advtk leak "$m" --limit 8 --quiet --out "$out/leak" "$@"
}
defenses="--defense none --defense noise=0.001 --defense noise=0.01 --defense prune=0.1 --defense prune=0.2 --defense prune=0.5 --defense dpsgd=1,0.01"
leak "$out/mlp0/model.pt" --attack analytic --batch-size 1 $defenses
leak "$out/mlp0/model.pt" --attack analytic --batch-size 8
leak "$out/dlg-lenet/model.pt" --attack dlg --batch-size 1 $defenses
leak "$out/dlg-lenet/model.pt" --attack idlg --batch-size 1 $defenses
leak "$out/dlg-lenet/model.pt" --attack dlg --batch-size 4
leak "$out/dlg-lenet/model.pt" --attack ig --batch-size 1 --defense none --defense prune=0.5
leak "$out/dlg-lenet/model.pt" --attack ig --batch-size 8
leak "$out/cnn0/model.pt" --attack ig --batch-size 1
echo "-- DLG, batch 1, 8 images: advtk (1 thread, then every core) vs the authors' recipe in PyTorch"
for t in 1 0; do
  build/advtk leak "$out/dlg-lenet/model.pt" --attack dlg --limit 8 --threads $t --quiet \
    --out "$out/leak-speed" > /dev/null
  python3 -c 'import json, statistics, sys; j = json.load(open(sys.argv[1]));
print("advtk --threads %s: median %.2f s per image" % (sys.argv[2],
      statistics.median(b["seconds"] for b in j["batches"])))' "$out/leak-speed/leak.json" "$t"
  timed build/advtk leak "$out/dlg-lenet/model.pt" --attack dlg --limit 8 --threads $t --quiet \
    --out "$out/leak-speed" | tail -n 1
done
if /usr/bin/python3 -c "import torch" 2> /dev/null; then
  dir="${ADVTK_FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}"
  for t in 1 2; do
    /usr/bin/python3 scripts/dlg_reference.py "$out/dlg-lenet/model.pt" \
      "$dir/t10k-images-idx3-ubyte.gz" "$dir/t10k-labels-idx1-ubyte.gz" 8 $t | tail -1
  done
else
  echo "(python3-torch not installed: the PyTorch reference is skipped)"
fi
fi

if want backdoor; then
echo "== training security: BackdoorBench-style table (Fashion-MNIST, zoo CNN, 3 epochs Adam) =="
# Each poisoned set: 10% of the first 6,000 training images towards class 0; the clean models
# train on the same 6,000 images. The scan: Neural Cleanse on the first 500 test images, the
# training-data detectors on the training set, the known trigger's success rate on the 500.
row() {  # NAME MODEL DATA [POISON_DIR]
  local name="$1" m="$2" data="$3" dir="${4:-}" extra=()
  [ -n "$dir" ] && extra=(--poison-index "$dir/poison_index.npy" --trigger "$dir/trigger.pt")
  local start end
  start=$(date +%s.%N)
  build/advtk backdoor "$m" --data "$data" "${extra[@]}" --quiet --out "$out/backdoor-$name" \
    > /dev/null || true
  end=$(date +%s.%N)
  python3 - "$out/backdoor-$name/backdoor.json" "$name" "$start" "$end" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
def rate(k):
    s = j[k]
    return "%.2f/%.3f" % (s["tpr"], s["fpr"]) if "tpr" in s else "flags %d" % len(s["flagged"])
kt = j.get("known_trigger", {}).get("attack_success_rate")
print("| %s | %.1f%% | %s | %s (%s) | %s | %s | %s | %s | %.0f s (NC %.0f s, data %.1f s) |" % (
    sys.argv[2], 100 * j["clean_accuracy"], "%.1f%%" % (100 * kt) if kt is not None else "-",
    "class %s" % j["neural_cleanse"]["flagged"] if j["neural_cleanse"]["flagged"] else "none",
    "%.2f/%.2f" % (j["neural_cleanse"]["anomaly_index"][0],
                   j["neural_cleanse"]["log_anomaly_index"][0]),
    rate("spectral"), rate("activation_clustering"), rate("deep_knn"), j["verdict"],
    float(sys.argv[4]) - float(sys.argv[3]), j["neural_cleanse"]["seconds"],
    j["training_data"]["seconds"]))
PY
}
echo "| model | clean acc | ASR | NC flags (class 0 index/log index) | spectral tpr/fpr | clustering tpr/fpr | deep k-NN tpr/fpr | verdict | seconds |"
seed=1
for attack in badnets blend label-flip; do
  build/advtk poison --limit 6000 --attack "$attack" --rate 0.1 --target 0 --quiet \
    --out "$out/poison-$attack" > /dev/null
  build/advtk train --arch cnn --data "npy:$out/poison-$attack/x.npy,$out/poison-$attack/y.npy" \
    --val-data fashion-mnist --epochs 3 --seed $seed --quiet --out "$out/model-$attack" > /dev/null
  row "$attack" "$out/model-$attack/model.pt" \
    "npy:$out/poison-$attack/x.npy,$out/poison-$attack/y.npy" "$out/poison-$attack"
  seed=$((seed + 1))
done
for s in 2 5; do
  build/advtk train --arch cnn --limit 6000 --epochs 3 --seed $s --quiet --out "$out/model-clean$s" \
    > /dev/null
  row "clean seed $s (scan: all 60,000)" "$out/model-clean$s/model.pt" "fashion-mnist"
done
# The demo's model (scripts/demo.sh): the CNN, 2 epochs on all 60,000 clean images.
build/advtk train --arch cnn --data fashion-mnist --epochs 2 --quiet --out "$out/model-clean-all" \
  > /dev/null
row "clean, all 60,000 (the demo's model)" "$out/model-clean-all/model.pt" "fashion-mnist"
echo "-- the data detectors over all 60,000 training images (BadNets 10%, a CNN trained on them)"
build/advtk poison --attack badnets --rate 0.1 --target 0 --quiet --out "$out/poison60k" > /dev/null
build/advtk train --arch cnn --data "npy:$out/poison60k/x.npy,$out/poison60k/y.npy" \
  --val-data fashion-mnist --epochs 3 --seed 1 --quiet --out "$out/model60k" > /dev/null
row "badnets 60k" "$out/model60k/model.pt" "npy:$out/poison60k/x.npy,$out/poison60k/y.npy" \
  "$out/poison60k"
fi

if want distributed; then
echo "== distributed: 1 process x 2 threads vs 2 processes x 1 thread (median of 3) =="
# PGD-40 on the first 2,000 test images, batch 100; the ranks meet over loopback, rank 0 hosting
# the store. Then, where torchrun exists, the same through the real launcher (its agent hosts the
# store); its outputs must equal the single process's (cmp of x_adv.npy; the threads differ, so
# summation order may too: the test suite compares at equal threads).
args=(attack "$model" --data fashion-mnist --limit 2000 --attack pgd --steps 40 --eps 0.1
      --batch-size 100 --quiet --force)
one=() two=()
for i in 1 2 3; do
  s=$(date +%s.%N)
  OMP_NUM_THREADS=2 build/advtk "${args[@]}" --out "$out/dist-one" > /dev/null
  m=$(date +%s.%N)
  for r in 0 1; do
    OMP_NUM_THREADS=1 WORLD_SIZE=2 RANK=$r LOCAL_RANK=$r MASTER_ADDR=127.0.0.1 \
      MASTER_PORT=$((29650 + i)) build/advtk "${args[@]}" --out "$out/dist-two" > /dev/null &
  done
  wait
  e=$(date +%s.%N)
  one+=("$(awk -v a="$s" -v b="$m" 'BEGIN {print b - a}')")
  two+=("$(awk -v a="$m" -v b="$e" 'BEGIN {print b - a}')")
done
t1=$(printf "%s\n" "${one[@]}" | median)
t2=$(printf "%s\n" "${two[@]}" | median)
awk -v a="$t1" -v b="$t2" 'BEGIN {printf "1x2 %.2f s, 2x1 %.2f s, efficiency (1x2 / 2x1) %.2f\n", a, b, a / b}'
if command -v torchrun > /dev/null; then
  # --redirects/--tee/--log_dir: Debian's torchrun 1.13 under Python 3.11 fails in its own code
  # without them ('NoneType' object has no attribute 'get'); harmless elsewhere.
  timed torchrun --nproc_per_node 2 --redirects 1 --tee 1 --log_dir "$out/dist-torchrun-logs" \
    --no_python build/advtk "${args[@]}" --out "$out/dist-torchrun"
  cmp "$out/dist-one/x_adv.npy" "$out/dist-torchrun/x_adv.npy" && echo "torchrun: x_adv identical"
else
  echo "torchrun not installed (python3-torch): the real launcher was not run"
fi
fi
