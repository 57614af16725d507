#!/usr/bin/env bash
# GPU readiness check (issue 17): a short FashionMTL MTL run (fashion1 + fashion2, 2000 samples
# per task, 2 epochs, probes on) on CPU and twice on CUDA with train.deterministic = true, then:
#   - the two CUDA runs must be identical (deterministic mode works end to end);
#   - CUDA against CPU must agree within the tolerances below (different kernels sum in a
#     different order, and training amplifies the differences step by step);
#   - `mtlscope bench step` on the GPU.
# Without a CUDA device it says so and exits 0 (CI has none).
#
#   bash scripts/gpu_check.sh [BIN] [OUT]      # defaults: target/release/mtlscope out/gpu_check
# GPU_CHECK_DEVICE=cpu runs the "CUDA" runs on the CPU instead (the tests exercise the script so);
# GPU_CHECK_LIMIT / GPU_CHECK_EPOCHS shrink the run.
set -euo pipefail
BIN="${1:-target/release/mtlscope}"
OUT="${2:-out/gpu_check}"
PY="${MTLSCOPE_VENV:-$HOME/.cache/mtlscope/venv}/bin/python"
DEV="${GPU_CHECK_DEVICE:-cuda}"
if [ "$DEV" = cuda ] && ! "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
  echo "gpu_check: skipped: libtorch sees no CUDA device on this machine (nothing to compare)"
  exit 0
fi
rm -rf "$OUT"
mkdir -p "$OUT"
common=(--config configs/fashion_mtl/mtl_fashion2.toml
        --set "data.train_limit=${GPU_CHECK_LIMIT:-2000}" --set "train.epochs=${GPU_CHECK_EPOCHS:-2}" --set train.batch_size=64
        --set train.deterministic=true --set probes.subset=256)
for run in cpu:cpu "cuda:$DEV" "cuda2:$DEV"; do
  name="${run%%:*}"; dev="${run##*:}"
  start=$(date +%s.%N)
  "$BIN" train "${common[@]}" --device "$dev" --out "$OUT/$name"
  echo "gpu_check: $name run ($dev) took $("$PY" -c "print(round($(date +%s.%N) - $start, 1))") s"
done
"$PY" - "$OUT" <<'PY'
import csv, math, sys
out = sys.argv[1]
# Tolerances, CUDA vs CPU after 2 epochs: absolute on losses and accuracies, relative on probes.
ABS, REL_PROBE = 2e-2, 0.10
def rows(run, f):
    with open(f"{out}/{run}/{f}") as fh:
        return list(csv.reader(fh))
def num(s):
    try:
        return float(s)
    except ValueError:
        return None
bad = 0
for f, tol in [("trajectory.csv", ("abs", ABS)), ("probes.csv", ("rel", REL_PROBE))]:
    a, b, c = rows("cuda", f), rows("cuda2", f), rows("cpu", f)
    if a != b:
        print(f"gpu_check: FAIL {f}: the two deterministic CUDA runs differ"); bad += 1
    if len(a) != len(c) or a[0] != c[0]:
        print(f"gpu_check: FAIL {f}: CUDA and CPU runs have different rows"); bad += 1; continue
    worst = 0.0
    for ra, rc in zip(a[1:], c[1:]):
        for x, y in zip(ra, rc):
            fx, fy = num(x), num(y)
            if fx is None or fy is None:
                if x != y:
                    print(f"gpu_check: FAIL {f}: {ra} vs {rc}"); bad += 1
                continue
            if math.isnan(fx) and math.isnan(fy):
                continue
            d = abs(fx - fy) if tol[0] == "abs" else abs(fx - fy) / max(abs(fy), 1e-12)
            worst = max(worst, d)
    ok = worst <= tol[1]
    bad += not ok
    print(f"gpu_check: {f}: CUDA vs CPU worst {tol[0]} difference {worst:.3g} (tolerance {tol[1]}) {'ok' if ok else 'FAIL'}")
sys.exit(1 if bad else 0)
PY
"$BIN" bench step --device "$DEV" --steps "${GPU_CHECK_BENCH_STEPS:-100}"
