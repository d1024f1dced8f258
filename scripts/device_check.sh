#!/usr/bin/env bash
# The checks that need an NVIDIA GPU, as one run on a machine that has one and a PyTorch 2.x
# install (with CUDA) but none of Debian's packages and no network (README "On a GPU"). First,
# here: scripts/device_deps.sh (fetches the packages into .devdeps/); then, there, with
# .devdeps carried:
#
#   scripts/device_check.sh [STEP...]   steps: build cuda repeat bench suite
#                                       (default: build cuda repeat bench; suite takes longer)
#
# build   advtk against the LibTorch inside that PyTorch (build-device/, Release, every core)
# cuda    the CUDA tests (GoogleTest filter *Cuda*)
# repeat  which figures move on CUDA: PGD-10 on 2,000 images run twice in one process, over two
#         ranks on the one GPU (started by hand, then by torchrun), and on the CPU; summary.json
#         figures and x_adv compared
# bench   images/s and time ÷ floor on the GPU: the zoo CNN (PGD-10, APGD, the autoattack
#         preset) and torchvision's ResNet-50 at 224×224 (random weights, labels = its own
#         predictions, so every example is attacked)
# suite   every test (ctest) on that LibTorch
#
# Everything it prints goes to OUT/device.log (OUT: $OUT, else runs/device); figures to OUT too.
# PYTHON names the Python that holds PyTorch (default python3).
set -uo pipefail
cd "$(dirname "$0")/.."
out="${OUT:-runs/device}"
mkdir -p "$out"
exec > >(tee -a "$out/device.log") 2>&1
steps="${*:-build cuda repeat bench}"
want() { [[ " $steps " == *" $1 "* ]]; }
work=/tmp/advtk-device
deps="$work/deps"
mkdir -p "$work"
export OMP_WAIT_POLICY=PASSIVE PYTHONUNBUFFERED=1
py="${PYTHON:-python3}"
started=$(date +%s)
stamp() { echo "== [$(($(date +%s) - started)) s] $*"; }

# Debian's packages, unpacked (not installed).
if [ ! -d "$deps/usr" ]; then
  ls .devdeps/*.deb > /dev/null || { echo "no .devdeps/*.deb: run scripts/device_deps.sh here and carry .devdeps"; exit 2; }
  for f in .devdeps/*.deb; do dpkg-deb -x "$f" "$deps"; done
fi
lib="$deps/usr/lib/x86_64-linux-gnu"
export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export ADVTK_FASHION_MNIST_DIR="$deps/usr/share/datasets/fashion-mnist"

stamp "machine"
nvidia-smi -L
"$py" -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda,
  "available", torch.cuda.is_available(), "cxx11 abi", torch.compiled_with_cxx11_abi())'
g++ --version | head -1
cmake --version | head -1
nvcc_bin="$(command -v nvcc || ls /usr/local/cuda/bin/nvcc 2> /dev/null || true)"
[ -n "$nvcc_bin" ] && "$nvcc_bin" --version | tail -2
echo "cores: $(nproc)"

bin=build-device/advtk
if want build; then
  stamp "build against $("$py" -c 'import torch; print(torch.utils.cmake_prefix_path)')"
  cuda_args=()
  [ -n "$nvcc_bin" ] && cuda_args=(-DCMAKE_CUDA_COMPILER="$nvcc_bin"
    -DCUDAToolkit_ROOT="$(dirname "$(dirname "$(readlink -f "$nvcc_bin")")")")
  generator=()
  command -v ninja > /dev/null && generator=(-G Ninja)
  cmake -S . -B build-device "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_PREFIX_PATH="$("$py" -c 'import torch; print(torch.utils.cmake_prefix_path)');$deps/usr" \
    -DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=ON \
    -DCLI11_DIR="$deps/usr/share/cmake/CLI11" -Dnlohmann_json_DIR="$deps/usr/share/cmake/nlohmann_json" \
    -Dspdlog_DIR="$lib/cmake/spdlog" -Dfmt_DIR="$lib/cmake/fmt" -DGTest_DIR="$lib/cmake/GTest" \
    -DZLIB_INCLUDE_DIR="$deps/usr/include" -DZLIB_LIBRARY="$lib/libz.a" \
    -DSTB_LIBRARY="$lib/libstb.a" "${cuda_args[@]}" ||
    { tail -60 build-device/CMakeFiles/CMakeError.log 2> /dev/null; exit 1; }
  # Keep going past a failing file, so that one run shows every error against this LibTorch.
  keep_going=(-k)
  [ ${#generator[@]} -gt 0 ] && keep_going=(-k 0)
  cmake --build build-device -j"$(nproc)" -- "${keep_going[@]}" > "$out/build.log" 2>&1
  built=$?
  grep -E -B2 -A6 'error:|FAILED:|Error [0-9]' "$out/build.log" | head -150
  # Whether NCCL came in (cmake/nccl.cmake), and the probe's output when it did not.
  [ -f build-device/nccl-probe.log ] && cp build-device/nccl-probe.log "$out/"
  [ "$built" -eq 0 ] || { tail -20 "$out/build.log"; echo "build failed (whole log: build.log)"; exit 1; }
  "$bin" --version
fi

if want cuda; then
  stamp "CUDA tests"
  timeout 300 build-device/advtk_tests --gtest_filter='*Cuda*:*OnCuda*'
fi

# A CNN trained on the GPU, shared by repeat and bench.
cnn="$work/cnn/model.pt"
if { want repeat || want bench; } && [ ! -f "$cnn" ]; then
  stamp "train the zoo CNN on the GPU (2 epochs)"
  "$bin" train --arch cnn --data fashion-mnist --epochs 2 --batch-size 128 --device cuda \
    --out "$work/cnn" --quiet
fi

# Prints the figures of summary.json files that differ from the first one's (timings aside) and
# how many x_adv rows differ, by how much.
compare() {
  "$py" - "$@" << 'EOF'
import json, sys
import numpy as np
def figures(d):
    j = json.load(open(d + "/summary.json"))
    return {k: v for k, v in j.items() if not isinstance(v, (dict, list)) and "second" not in k
            and "time" not in k and "per_s" not in k}
base, bx = figures(sys.argv[1]), np.load(sys.argv[1] + "/x_adv.npy")
for d in sys.argv[2:]:
    try:
        f, x = figures(d), np.load(d + "/x_adv.npy")
    except OSError as e:
        print(f"{d}: no outputs ({e})")
        continue
    moved = {k: (base[k], f.get(k)) for k in base if f.get(k) != base[k]}
    rows = np.abs(x.reshape(len(x), -1) - bx.reshape(len(bx), -1)).max(axis=1)
    print(f"{d}: figures that moved {moved or 'none'}; x_adv rows that differ {int((rows > 0).sum())} "
          f"of {len(rows)}, largest difference {rows.max():.3g}")
EOF
}

if want repeat; then
  stamp "which figures move on CUDA (PGD-10, 2,000 images, batch 500)"
  args=(--data fashion-mnist --limit 2000 --attack pgd --steps 10 --eps 0.1 --batch-size 500 --quiet)
  r="$work/repeat"
  rm -rf "$r"
  "$bin" attack "$cnn" "${args[@]}" --device cuda --out "$r/gpu-1"
  "$bin" attack "$cnn" "${args[@]}" --device cuda --out "$r/gpu-2"
  ranks=()
  for rank in 0 1; do
    WORLD_SIZE=2 RANK=$rank LOCAL_RANK=$rank MASTER_ADDR=127.0.0.1 MASTER_PORT=29533 \
      "$bin" attack "$cnn" "${args[@]}" --device cuda:0 --out "$r/gpu-ranks" &
    ranks+=($!)
  done
  for p in "${ranks[@]}"; do wait "$p"; done  # not `wait`: it would wait for the log's tee too
  # The same through that PyTorch's own launcher (2.x spells its flags with dashes; its agent
  # hosts the store).
  "$py" -m torch.distributed.run --nproc-per-node 2 --no-python "$bin" attack "$cnn" "${args[@]}" \
    --device cuda:0 --out "$r/gpu-torchrun"
  "$bin" attack "$cnn" "${args[@]}" --device cpu --out "$r/cpu"
  compare "$r/gpu-1" "$r/gpu-2" "$r/gpu-ranks" "$r/gpu-torchrun" "$r/cpu"
  cp "$r/gpu-1/summary.json" "$out/repeat-gpu-summary.json"
fi

# images/s of `advtk attack` (its summary's seconds) and each attack's time ÷ floor (advtk bench).
rate() { "$py" -c "import json,sys; j=json.load(open(sys.argv[1])); n=j['examples']; s=j['seconds']; print(f'{sys.argv[2]}: {n} images in {s:.2f} s = {n/s:.0f} images/s')" "$1" "$2"; }

if want bench; then
  stamp "the zoo CNN on the GPU: floor and attacks (10,000 images, batch 1,000)"
  b="$work/bench"
  rm -rf "$b"
  "$bin" bench "$cnn" --data fashion-mnist --limit 10000 --batch-size 1000 --device cuda \
    --attacks fgsm,pgd,apgd --eps 0.1 --repeats 3 --json > "$out/bench-cnn.txt"
  cat "$out/bench-cnn.txt"
  for a in "pgd10:--attack pgd --steps 10" "apgd:--attack apgd" "autoattack:--attack autoattack"; do
    name="${a%%:*}"
    limit=10000
    [ "$name" = autoattack ] && limit=1000
    "$bin" attack "$cnn" --data fashion-mnist --limit $limit --batch-size 1000 --device cuda \
      --eps 0.1 ${a#*:} --out "$b/$name" --quiet && rate "$b/$name/summary.json" "cnn $name"
  done

  stamp "torchvision ResNet-50, 224x224, on the GPU"
  "$py" - "$work" << 'EOF'
import sys, numpy as np, torch, torchvision
w = sys.argv[1]
m = torchvision.models.resnet50(weights=None).eval()
torch.jit.script(m).save(w + "/resnet50.pt")
x = np.random.default_rng(0).integers(0, 256, (1024, 3, 224, 224), dtype=np.uint8)
with torch.no_grad():
    m = m.cuda()
    y = torch.cat([m(torch.from_numpy(x[i:i + 128]).cuda().float() / 255).argmax(1).cpu()
                   for i in range(0, len(x), 128)])
np.save(w + "/x.npy", x)
np.save(w + "/y.npy", y.numpy().astype(np.int64))
print("resnet50 written; its own predictions as labels")
EOF
  data="npy:$work/x.npy,$work/y.npy"
  "$bin" bench "$work/resnet50.pt" --data "$data" --batch-size 256 --device cuda --attacks fgsm \
    --eps 0.0157 --repeats 3 --json > "$out/bench-resnet50.txt"
  cat "$out/bench-resnet50.txt"
  "$bin" attack "$work/resnet50.pt" --data "$data" --limit 512 --batch-size 256 --device cuda \
    --attack pgd --steps 10 --eps 0.0157 --out "$b/resnet50-pgd10" --quiet &&
    rate "$b/resnet50-pgd10/summary.json" "resnet50 pgd10"
fi

if want suite; then
  stamp "every test on this LibTorch"
  ctest --test-dir build-device -j"$(($(nproc) / 2))" --timeout 400 --output-on-failure | tail -60
fi
stamp "done"
