#!/usr/bin/env bash
# Idempotent set-up: the Fashion-MNIST Debian package, libtorch from the PyPI torch wheel in a
# per-user cache shared by every clone and CI run, and the `libtorch` link the build uses.
set -euo pipefail
cd "$(dirname "$0")/.."

TORCH_VERSION=2.13.0
CACHE="${MTLSCOPE_CACHE:-$HOME/.cache/mtlscope}"
VENV="$CACHE/venv"

# Debian packages: the dataset (unless MTLSCOPE_DATA points elsewhere), the font the report's
# PNG figures are drawn with, and chromium, in which the report test renders index.html
# (crates/mtlscope/tests/chromium_render.rs, scripts/check_report.sh).
need=()
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ] && [ -z "${MTLSCOPE_DATA:-}" ]; then
  need+=(dataset-fashion-mnist)
fi
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing Debian packages ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi

# A one-node Slurm cluster for the `--launcher slurm` test (scripts/slurm_local.sh starts it).
slurm=()
for b in slurmctld:slurmctld slurmd:slurmd sbatch:slurm-client munged:munge; do
  command -v "${b%%:*}" >/dev/null 2>&1 || [ -x "/usr/sbin/${b%%:*}" ] || slurm+=("${b##*:}")
done
if [ ${#slurm[@]} -gt 0 ]; then
  echo "setup: installing Debian packages ${slurm[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  [ ${#need[@]} -gt 0 ] || $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${slurm[@]}"
fi

torch_dir() { "$VENV/bin/python" - <<'PY' 2>/dev/null
import importlib.util, os
spec = importlib.util.find_spec("torch")
print(os.path.dirname(spec.origin))
PY
}

have_torch() { [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import importlib.metadata as m; assert m.version('torch').split('+')[0] == '$TORCH_VERSION'" 2>/dev/null; }

if ! have_torch; then
  echo "setup: installing torch==$TORCH_VERSION into $VENV (about 4.7 GB, once per machine)"
  mkdir -p "$CACHE"
  [ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "torch==$TORCH_VERSION"
fi

# transformers, for the reference test of the roberta/bert encoders only
# (crates/mtlscope/tests/transformer.rs runs scripts/transformer_reference.py): mtlscope reads a
# Hugging Face model folder itself and never needs it at run time. Pinned, and skipped when that
# version is already there, like torch.
TRANSFORMERS_VERSION=5.25.0
if ! "$VENV/bin/python" -c "import importlib.metadata as m; assert m.version('transformers') == '$TRANSFORMERS_VERSION'" 2>/dev/null; then
  echo "setup: installing transformers==$TRANSFORMERS_VERSION into $VENV (reference test only)"
  "$VENV/bin/pip" install -q --disable-pip-version-check "transformers==$TRANSFORMERS_VERSION"
fi

dir="$(torch_dir)"
[ -f "$dir/lib/libtorch_cpu.so" ] || { echo "setup: no libtorch_cpu.so under $dir/lib" >&2; exit 1; }
if [ "$(readlink libtorch 2>/dev/null)" != "$dir" ]; then
  ln -sfn "$dir" libtorch
  echo "setup: libtorch -> $dir"
fi
