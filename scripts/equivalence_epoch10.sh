#!/usr/bin/env bash
# The over-seeds check of docs/equivalence.md: FashionMTL (full data, Adam 1e-3, batch 128,
# 10 epochs, probes off), STL / + fashion2 / + noisy_fashion, seeds 1-3, trained by mtlscope
# and by the plain-PyTorch reference on mtlscope's split and labels (the reference with its own
# initialisation and batch order, --init torch --sampler torch, so the seeds are independent).
# 18 runs, one libtorch thread each, JOBS at a time (default 2), under nice; finished runs are
# skipped on a re-run. Then prints the epoch-10 fashion1 test accuracy table.
#
#   scripts/equivalence_epoch10.sh OUT_DIR        (DRY_RUN=1: print the jobs, run nothing)
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:?usage: $0 OUT_DIR}"
BIN="${BIN:-target/release/mtlscope}"
PY="${MTLSCOPE_CACHE:-$HOME/.cache/mtlscope}/venv/bin/python"
JOBS="${JOBS:-2}"
SEEDS="${SEEDS:-1 2 3}"
mkdir -p "$OUT"

tasks() {
  case $1 in
    stl) echo '["fashion1"]' ;;
    fashion2) echo '["fashion1","fashion2"]' ;;
    noisy) echo '["fashion1","noisy_fashion"]' ;;
  esac
}
q() { printf '%q ' "$@"; }

jobs_file="$OUT/jobs.txt"
: > "$jobs_file"
for seed in $SEEDS; do
  for v in stl fashion2 noisy; do
    # eval_every = 1950 (10 epochs of 195 steps): evaluate at steps 0 and 1950 only;
    # evaluations never change the trajectory, and they are a third of a run's time.
    args=(--config configs/fashion_mtl/base.toml --set train.epochs=10
          --set train.eval_every=1950 --set probes.enabled=false
          --set "data.tasks=$(tasks $v)" --set "train.seed=$seed")
    exp="$OUT/export/$v/seed$seed"
    run="$OUT/mtlscope/$v/seed$seed"
    ref="$OUT/pytorch/$v/seed$seed"
    if ! grep -qs '"completed"' "$run/run.json"; then
      echo "rm -rf $(q "$run") && $(q "$BIN" train "${args[@]}" --threads 1 --quiet --out "$run")" >> "$jobs_file"
    fi
    if ! grep -qs '"completed"' "$ref/reference.json"; then
      echo "rm -rf $(q "$exp" "$ref") && $(q "$BIN" export "${args[@]}" --out "$exp") && $(q "$PY" scripts/pytorch_reference.py --threads 1 --sampler torch --init torch "$exp" "$ref")" >> "$jobs_file"
    fi
  done
done
if [ "${DRY_RUN:-0}" = 1 ]; then
  cat "$jobs_file"
else
  export OMP_NUM_THREADS=1
  xargs -d '\n' -P "$JOBS" -I{} nice -n 10 bash -c '{} > /dev/null 2>> '"$OUT"'/log.txt' < "$jobs_file" || true
fi

"$PY" - "$OUT" <<'PY'
import csv, os, statistics, sys, warnings
warnings.filterwarnings("ignore")
out = sys.argv[1]
print("variant   implementation  seeds  fashion1 test accuracy, epoch 10: mean ± std (per seed)")
for v in ["stl", "fashion2", "noisy"]:
    for impl in ["mtlscope", "pytorch"]:
        accs = []
        d = os.path.join(out, impl, v)
        for s in sorted(os.listdir(d)) if os.path.isdir(d) else []:
            p = os.path.join(d, s, "trajectory.csv")
            # Run format 2 (docs/run-format.md): one metric a row.
            rows = [r for r in csv.DictReader(open(p)) if r["task"] == "fashion1" and r["split"] == "test" and r["metric"] == "accuracy"] if os.path.exists(p) else []
            if rows and float(rows[-1]["epoch"]) == 10:
                accs.append(float(rows[-1]["value"]))
        if accs:
            sd = statistics.stdev(accs) if len(accs) > 1 else float("nan")
            print(f"{v:9s} {impl:15s} {len(accs):5d}  {statistics.mean(accs):.4f} ± {sd:.4f} ({' '.join(f'{a:.4f}' for a in accs)})")
PY
