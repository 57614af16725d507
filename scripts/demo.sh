#!/usr/bin/env bash
# A few minutes on 2 cores: the FashionMTL STL and MTL configs, briefly, on real Fashion-MNIST.
set -euo pipefail
BIN="$1"
OUT="$2"
mkdir -p "$OUT"
for cfg in stl_fashion1 mtl_fashion2 mtl_noisy; do
  run="$OUT/$cfg"
  if [ -f "$run/run.json" ] && grep -q '"completed"' "$run/run.json"; then
    echo "demo: $run already completed"
    continue
  fi
  resume=""
  [ -f "$run/checkpoints/last.json" ] && resume="--resume"
  [ -n "$resume" ] || rm -rf "$run"
  "$BIN" train --config "configs/fashion_mtl/$cfg.toml" --out "$run" $resume \
    --set train.epochs=2 --set data.train_limit=5000
done
echo
echo "demo: run directories in $OUT/{stl_fashion1,mtl_fashion2,mtl_noisy}"
echo "demo: each has trajectory.csv (epoch,step,task,split,loss,accuracy), run.json, config.toml, checkpoints/"
