#!/usr/bin/env bash
# The statistical check of docs/equivalence.md: FashionMTL (full data, Adam 1e-3, batch 128,
# 10 epochs, probes off), STL / + fashion2 / + noisy_fashion, seeds 1-3, trained by mtlscope
# and by the plain-PyTorch reference on mtlscope's split and labels (the reference with its own
# initialisation and batch order, --init torch --sampler torch, so the seeds are independent).
# 18 runs, one libtorch thread each, JOBS at a time (default 2), under nice. Then prints the
# epoch-10 fashion1 test accuracy table.
#
#   scripts/equivalence_epoch10.sh OUT_DIR [EXTRA_REFERENCE_ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:?usage: $0 OUT_DIR [reference args]}"; shift || true
EXTRA=("$@")
BIN="${BIN:-target/release/mtlscope}"
PY="${MTLSCOPE_CACHE:-$HOME/.cache/mtlscope}/venv/bin/python"
JOBS="${JOBS:-2}"
SEEDS="${SEEDS:-1 2 3}"
mkdir -p "$OUT"

declare -A TASKS=(
  [stl]='["fashion1"]'
  [fashion2]='["fashion1","fashion2"]'
  [noisy]='["fashion1","noisy_fashion"]'
)
# eval_every = 1950 (= 10 epochs of 195 steps): evaluate at steps 0 and 1950 only; evaluations
# never change the trajectory, and they are a third of a run's time.
common=(--config configs/fashion_mtl/base.toml --set train.epochs=10 --set train.eval_every=1950
        --set probes.enabled=false)

jobs_file="$OUT/jobs.txt"
: > "$jobs_file"
for seed in $SEEDS; do
  for v in stl fashion2 noisy; do
    args=("${common[@]}" --set "data.tasks=${TASKS[$v]}" --set "train.seed=$seed")
    exp="$OUT/export/$v/seed$seed"
    [ -f "$exp/manifest.json" ] || { rm -rf "$exp"; "$BIN" export "${args[@]}" --out "$exp"; }
    run="$OUT/mtlscope/$v/seed$seed"
    ref="$OUT/pytorch/$v/seed$seed"
    q() { printf '%q ' "$@"; }
    if ! { [ -f "$run/run.json" ] && grep -q '"completed"' "$run/run.json"; }; then
      echo "rm -rf $(q "$run") && $(q "$BIN" train "${args[@]}" --threads 1 --quiet --out "$run")" >> "$jobs_file"
    fi
    if [ ! -f "$ref/reference.json" ]; then
      echo "$(q "$PY" scripts/pytorch_reference.py --threads 1 --sampler torch --init torch "${EXTRA[@]}" "$exp" "$ref")" >> "$jobs_file"
    fi
  done
done
export OMP_NUM_THREADS=1
xargs -d '\n' -P "$JOBS" -I{} nice -n 10 bash -c '{} > /dev/null 2>> '"$OUT"'/log.txt' < "$jobs_file" || true

"$PY" - "$OUT" <<'PY'
import csv, statistics, sys, os
out = sys.argv[1]
print("variant    implementation  seeds  fashion1 test accuracy at epoch 10 (mean ± std)  per seed")
for v in ["stl", "fashion2", "noisy"]:
    for impl in ["mtlscope", "pytorch"]:
        accs = []
        for s in sorted(os.listdir(os.path.join(out, impl, v))) if os.path.isdir(os.path.join(out, impl, v)) else []:
            p = os.path.join(out, impl, v, s, "trajectory.csv")
            if not os.path.exists(p):
                continue
            rows = [r for r in csv.DictReader(open(p)) if r["task"] == "fashion1" and r["split"] == "test"]
            if rows and float(rows[-1]["epoch"]) == 10:
                accs.append(float(rows[-1]["accuracy"]))
        if accs:
            sd = statistics.stdev(accs) if len(accs) > 1 else float("nan")
            print(f"{v:10s} {impl:15s} {len(accs):5d}  {statistics.mean(accs):.4f} ± {sd:.4f}  {' '.join(f'{a:.4f}' for a in accs)}")
PY
