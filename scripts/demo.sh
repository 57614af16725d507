#!/usr/bin/env bash
# `make demo`: the quick FashionMTL experiment (configs/fashion_mtl/quick.toml: STL, MTL and an
# SMTO variant × 2 seeds × 2 learning rates on 1000 samples per task) as parallel `train`
# processes, then the report. Re-running skips completed runs and resumes interrupted ones.
# Prints the path of the report; opens nothing.
set -euo pipefail
BIN="$1"
OUT="$2"
# A failed or diverged run is listed by `experiment` and does not stop the report.
"$BIN" experiment --config configs/fashion_mtl/quick.toml --out "$OUT" || \
  echo "demo: some runs did not complete (listed above); the report uses the completed ones" >&2
"$BIN" report "$OUT"
