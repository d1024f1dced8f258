#!/usr/bin/env bash
# Fuzzes advtk's readers of other people's files with libFuzzer under AddressSanitizer and
# UndefinedBehaviorSanitizer (fuzz/: one harness per reader, a seed corpus, a dictionary).
#
#   scripts/fuzz.sh [SECONDS]   each harness for SECONDS (default 60)
#
# Builds in build-fuzz/ with clang (installed when missing); the corpus grows in
# build-fuzz/corpus-NAME, crashes land in build-fuzz/crashes/ (each one becomes a regression
# file in tests/fixtures/fuzz/ that a normal test replays). Prints each harness's executions.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
scripts/setup.sh > /dev/null
# libFuzzer and the sanitizer runtimes are in libclang-rt-14-dev, which clang only recommends.
missing=()
for p in clang libclang-rt-14-dev; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  if [ -n "$sudo_cmd" ] && ! sudo -n true 2>/dev/null; then
    echo "fuzz: ${missing[*]} missing and not installable here (no root, no sudo)" >&2
    # .ci/run sets ADVTK_FUZZ_OPTIONAL: a CI image without root skips the fuzzers, saying so.
    [ -n "${ADVTK_FUZZ_OPTIONAL:-}" ] && { echo "fuzz: skipped" >&2; exit 0; }
    exit 2
  fi
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >&2
fi
CXX=clang++ cmake -S fuzz -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build build-fuzz -j"${ADVTK_JOBS:-2}"
mkdir -p build-fuzz/crashes
export OMP_NUM_THREADS=1
# Inputs up to the largest seed: a CIFAR-10 record is 3,073 bytes, a small torch.save file 5 KB.
for name in ${ADVTK_FUZZERS:-npy idx cifar10 torch_save image data_spec values stage_store}; do
  case "$name" in
    cifar10|torch_save|stage_store) max_len=8192 ;;
    *) max_len=4096 ;;
  esac
  corpus="build-fuzz/corpus-$name"
  mkdir -p "$corpus"
  cp -n fuzz/corpus/"$name"/* "$corpus"/
  dict=()
  [ -f "fuzz/$name.dict" ] && dict=(-dict="fuzz/$name.dict")
  log="build-fuzz/$name.log"
  code=0
  build-fuzz/"${name}_fuzzer" "$corpus" "${dict[@]}" -max_total_time="$seconds" \
    -max_len="$max_len" -rss_limit_mb=4096 -artifact_prefix="build-fuzz/crashes/$name-" \
    -print_final_stats=1 > "$log" 2>&1 || code=$?
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  echo "fuzz $name: $runs executions in ${seconds} s, exit $code"
  if [ "$code" -ne 0 ]; then
    grep -m1 -E "ERROR|runtime error|deadly signal|uncaught" "$log" || true
    exit "$code"
  fi
done
