#!/usr/bin/env bash
# A refactor's proof: every registered attack (at each norm it supports), the AutoAttack presets
# and a quick audit (also behind a quantising front end: the adaptive stages), on the zoo CNN,
# written as figures without timings. Run it before and
# after a behaviour-preserving change and compare the two folders:
#
#   scripts/figures.sh runs/figures-before      (on the old commit)
#   scripts/figures.sh runs/figures-after       (on the new one)
#   diff -r runs/figures-before/figures runs/figures-after/figures
#
# The model is trained once (FIGURES_MODEL to reuse one) so both runs attack the same weights.
# About 10 min on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:?usage: scripts/figures.sh OUT_DIR}"
export OMP_WAIT_POLICY=PASSIVE
advtk="${ADVTK_BIN:-build/advtk}"  # a copy keeps a rebuild from changing the binary mid-run
model="${FIGURES_MODEL:-runs/figures-model/model.pt}"
if [ ! -f "$model" ]; then
  "$advtk" train --arch cnn --data fashion-mnist --limit 5000 --epochs 1 --batch-size 128 \
    --out "$(dirname "$model")" --quiet >/dev/null
fi
mkdir -p "$out/figures" "$out/runs"
common=(--data fashion-mnist --split test --limit 100 --batch-size 50 --quiet --seed 3)

# summary.json and report.json without timings; every .pt file by its tensors (its SHA-256
# without python3-torch); .csv, .npy and .png files by their SHA-256.
normalise() {  # DIR NAME
  # Debian's python3 has torch when python3-torch is installed (optional).
  /usr/bin/python3 - "$1" "$out/figures/$2" <<'EOF'
import hashlib, json, os, sys
src, dst = sys.argv[1], sys.argv[2]
def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in sorted(v.items())
                if "seconds" not in k and k not in ("timings", "started", "finished", "path",
                                                    "out", "model", "file", "version")}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v
def pt_digest(p):
    # The files hold the parameters' JSON with its seconds: with torch, hash every tensor and
    # the JSON without timings; without it, the whole file (which then differs run to run).
    try:
        import torch
    except ImportError:
        return "sha256 " + hashlib.sha256(open(p, "rb").read()).hexdigest()
    h = hashlib.sha256()
    for k, v in sorted(torch.load(p).items()):
        h.update(k.encode())
        if isinstance(v, torch.Tensor):
            h.update(str(v.dtype).encode() + str(tuple(v.shape)).encode())
            h.update(v.contiguous().numpy().tobytes())
        elif isinstance(v, str) and v.startswith("{"):
            h.update(json.dumps(strip(json.loads(v)), sort_keys=True).encode())
        else:
            h.update(repr(v).encode())
    return "tensors sha256 " + h.hexdigest()
lines = []
for root, _, files in sorted(os.walk(src)):
    for f in sorted(files):
        p = os.path.join(root, f)
        rel = os.path.relpath(p, src)
        if f in ("summary.json", "report.json", "masking.json"):
            lines.append("== " + rel + "\n" + json.dumps(strip(json.load(open(p))), indent=1))
        elif f.endswith(".pt") and "stages" not in rel:
            lines.append("== " + rel + " " + pt_digest(p))
        elif f.endswith((".csv", ".npy", ".png")) and "stages" not in rel:
            lines.append("== " + rel + " sha256 " + hashlib.sha256(open(p, "rb").read()).hexdigest())
open(dst, "w").write("\n".join(lines) + "\n")
EOF
}

# FIGURES_RENORMALISE=1: only write the figures again from the runs already in OUT.
if [ -n "${FIGURES_RENORMALISE:-}" ]; then
  for d in "$out"/runs/*/; do
    label=$(basename "$d")
    case "$label" in
      audit | audit-masked) normalise "$d" "$label" ;;
      *) normalise "$d" "attack-$label" ;;
    esac
  done
  echo "figures in $out/figures ($(ls "$out/figures" | wc -l) files)"
  exit 0
fi

attack() {  # NAME NORM [LABEL] -- EXTRA...  (LABEL tells apart runs of one attack and norm)
  local name="$1" norm="$2" label="$1-$2"
  shift 2
  if [ "${1:-}" != "--" ]; then label="$label-$1"; shift; fi
  shift
  local dir="$out/runs/$label"
  # FIGURES_KEEP=1: runs whose figures exist are not redone (a script that grew).
  [ -n "${FIGURES_KEEP:-}" ] && [ -f "$out/figures/attack-$label" ] && return
  rm -rf "$dir"
  "$advtk" attack "$model" "${common[@]}" --attack "$name" --norm "$norm" "$@" --out "$dir" \
    >/dev/null
  normalise "$dir" "attack-$label"
}

attack fgsm linf -- --eps 0.1
for n in l2 l1; do attack fgm $n -- --eps 1; done
attack rfgsm linf -- --eps 0.1
attack rfgsm l2 -- --eps 1
for a in pgd cw-linf apgd apgd-t fab fab-t square noise; do
  attack "$a" linf -- --eps 0.05,0.1
  attack "$a" l2 -- --eps 1
  attack "$a" l1 -- --eps 5
done
attack pgd linf margin -- --eps 0.1 --restarts 2 --loss margin --no-early-stop
attack mi-fgsm linf -- --eps 0.1
attack mi-fgsm l2 -- --eps 1
attack pgd linf target -- --eps 0.1 --target least-likely
attack square linf short -- --eps 0.1 --queries 300 --p-init 0.3
attack noise linf gaussian -- --eps 0.1 --noise gaussian --draws 20
attack cw l2 -- --eps 0.5,1 --binary-steps 3 --steps 20
attack deepfool l2 --
attack deepfool linf -- --eps 0.1
attack apgd,square linf --  --eps 0.1
for preset in autoattack autoattack-plus autoattack-rand; do attack "$preset" linf -- --eps 0.1; done
attack autoattack l1 -- --eps 5

dir="$out/runs/audit"
if [ -z "${FIGURES_KEEP:-}" ] || [ ! -f "$out/figures/audit" ]; then
rm -rf "$dir"
code=0
"$advtk" audit "$model" --data fashion-mnist --budget quick --limit 100 --quiet --seed 3 \
  --out "$dir" >/dev/null || code=$?
[ "$code" -eq 0 ] || [ "$code" -eq 3 ] || { echo "audit failed (exit $code)"; exit 1; }
normalise "$dir" audit
fi

# The audit's adaptive path: the same model behind a quantising front end (round(8x)/8) reads
# `masked`, and the retries that broke points run as adaptive stages. The front end is scripted
# by Debian's python3-torch when it is there (skipped otherwise).
dir="$out/runs/audit-masked"
if { [ -z "${FIGURES_KEEP:-}" ] || [ ! -f "$out/figures/audit-masked" ]; } &&
  /usr/bin/python3 -c "import torch" 2>/dev/null; then
  rm -rf "$dir"
  mkdir -p "$dir"
  printf '%s\n' "import sys" "import torch" "class Quantise(torch.nn.Module):" \
    "    def forward(self, x):" "        return torch.round(x * 8.0) / 8.0" \
    "torch.jit.script(Quantise()).save(sys.argv[1])" > "$out/quantise.py"
  /usr/bin/python3 "$out/quantise.py" "$out/quantise.pt"
  code=0
  "$advtk" audit "$model" --preprocess "$out/quantise.pt" --data fashion-mnist --budget quick \
    --limit 100 --quiet --seed 3 --out "$dir" >/dev/null || code=$?
  [ "$code" -eq 0 ] || [ "$code" -eq 3 ] || { echo "masked audit failed (exit $code)"; exit 1; }
  normalise "$dir" audit-masked
fi
echo "figures in $out/figures ($(ls "$out/figures" | wc -l) files)"
