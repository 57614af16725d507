#!/usr/bin/env bash
# What the user waits for, mtlscope against the same job written plainly in PyTorch on the same
# wheel (scripts/bench_run.py), as processes from start to exit (issue #17, part 3):
#
#   scripts/bench_run.sh OUT_DIR                whole 1-epoch FashionMTL run, fashion1 +
#                                               noisy_fashion, evaluation at epochs 0 and 1,
#                                               probes off; mtlscope and PyTorch interleaved,
#                                               REPS times each (default 2); prints each time,
#                                               the best of each, their ratio, and where the
#                                               time went (run.json's phases, the script's)
#   scripts/bench_run.sh --experiment OUT_DIR   the 9-run experiment of
#                                               configs/fashion_mtl/bench.toml (3 variants x 3
#                                               seeds, 40 epochs; EPOCHS overrides) with
#                                               --jobs 2, then the same 9 runs in PyTorch, two
#                                               at a time, one thread each
#
# Run it on an otherwise idle machine: the figures are wall times. BIN (default
# target/release/mtlscope), PY (default the project's venv) and DATA_DIR (default Debian's
# Fashion-MNIST) can be set. PY_MALLOC=1 gives the PyTorch processes the malloc settings
# mtlscope sets for itself (src/main.rs: tune_malloc), to see what is left without them.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=run
if [[ "${1:-}" == "--experiment" ]]; then
  mode=experiment
  shift
fi
OUT="${1:?usage: $0 [--experiment] OUT_DIR}"
BIN="${BIN:-target/release/mtlscope}"
PY="${PY:-${MTLSCOPE_CACHE:-$HOME/.cache/mtlscope}/venv/bin/python}"
DATA_DIR="${DATA_DIR:-/usr/share/datasets/fashion-mnist}"
REPS="${REPS:-2}"
EPOCHS="${EPOCHS:-40}"
for f in "$BIN" "$PY"; do
  [[ -x "$f" ]] || { echo "error: $f is missing (make build; make setup)" >&2; exit 1; }
done
mkdir -p "$OUT"
if [[ "${PY_MALLOC:-0}" == 1 ]]; then
  export MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=1073741824 MALLOC_TOP_PAD_=268435456
  # mtlscope sets them itself; the environment changes nothing for it.
fi
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

if [[ $mode == run ]]; then
  ours=() theirs=()
  for rep in $(seq "$REPS"); do
    rm -rf "$OUT/mtlscope" "$OUT/pytorch"
    t0=$(now)
    "$BIN" train --config configs/fashion_mtl/base.toml --data-dir "$DATA_DIR" -q \
      --set train.epochs=1 --set probes.enabled=false \
      --set 'data.tasks=["fashion1","noisy_fashion"]' --out "$OUT/mtlscope"
    t1=$(now)
    "$PY" scripts/bench_run.py --data-dir "$DATA_DIR" --tasks fashion1,noisy_fashion \
      --epochs 1 --out "$OUT/pytorch" > "$OUT/pytorch_phases.json"
    t2=$(now)
    ours+=("$(secs "$t0" "$t1")")
    theirs+=("$(secs "$t1" "$t2")")
    echo "rep $rep: mtlscope $(secs "$t0" "$t1") s, PyTorch $(secs "$t1" "$t2") s"
  done
  best() { printf '%s\n' "$@" | sort -g | head -1; }
  b_ours=$(best "${ours[@]}")
  b_theirs=$(best "${theirs[@]}")
  echo "best of $REPS: mtlscope $b_ours s, PyTorch $b_theirs s, ratio $(awk -v a="$b_ours" -v b="$b_theirs" 'BEGIN { printf "%.2f", a / b }')"
  echo "mtlscope phases (last rep, s): $(python3 -c 'import json, sys; print(json.dumps({k: round(v, 2) for k, v in json.load(open(sys.argv[1]))["phases"].items()}))' "$OUT/mtlscope/run.json")"
  echo "PyTorch phases (last rep, s):  $(cat "$OUT/pytorch_phases.json")"
  exit 0
fi

rm -rf "$OUT/mtlscope" "$OUT/pytorch"
t0=$(now)
"$BIN" experiment --config configs/fashion_mtl/bench.toml --data-dir "$DATA_DIR" --jobs 2 \
  --set "train.epochs=$EPOCHS" --out "$OUT/mtlscope" > "$OUT/mtlscope.log" 2>&1
t1=$(now)
mkdir -p "$OUT/pytorch"
for seed in 1 2 3; do
  for tasks in fashion1 fashion1,fashion2 fashion1,noisy_fashion; do
    echo "$tasks $seed"
  done
done | xargs -P 2 -L 1 sh -c '"$0" scripts/bench_run.py --threads 1 --data-dir "$1" --epochs "$2" --tasks "$4" --seed "$5" --out "$3/pytorch/$4-$5" > "$3/pytorch/$4-$5.phases.json"' \
  "$PY" "$DATA_DIR" "$EPOCHS" "$OUT"
t2=$(now)
echo "9 runs, $EPOCHS epochs, 2 at a time: mtlscope experiment $(secs "$t0" "$t1") s, PyTorch $(secs "$t1" "$t2") s, ratio $(awk -v a="$(secs "$t0" "$t1")" -v b="$(secs "$t1" "$t2")" 'BEGIN { printf "%.2f", a / b }')"
# Where the time went, summed over the 9 runs (process seconds, one thread each).
python3 - "$OUT" <<'PY'
import glob, json, sys
def total(paths, get):
    sums = {}
    for p in paths:
        for k, v in get(json.load(open(p))).items():
            sums[k] = sums.get(k, 0.0) + v
    return {k: round(v, 1) for k, v in sorted(sums.items()) if v >= 0.05}
out = sys.argv[1]
print("mtlscope phases (9 runs, s):", total(glob.glob(f"{out}/mtlscope/**/run.json", recursive=True), lambda j: j["phases"]))
print("PyTorch phases (9 runs, s): ", total(glob.glob(f"{out}/pytorch/*.phases.json"), lambda j: j))
PY
