#!/usr/bin/env bash
# The GPU check, in one go and in at most 8 minutes, on a machine with a CUDA GPU:
#   1. the GPU-marked tests, on CUDA;
#   2. 3 minutes of training on tiny_shakespeare with the default settings, on the GPU;
#   3. generation from that run on the CPU (the checkpoint carries no device);
#   4. the throughput table (characters/s at 1x512 and 2x1024, fp32 and bf16, cuDNN).
#
#   benchmarks/gpu_check.sh [TEXT] [OUT]
#
# It runs lstmlab from this source tree (PYTHONPATH=.) with the machine's own python3
# and its CUDA build of torch (2.11 or newer): it installs nothing and never pulls the
# pinned CPU torch. TEXT defaults to ../shared/data/text/tiny_shakespeare.txt, or to
# .gpu-data/tiny_shakespeare.txt when the data travels inside the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
PY=${PYTHON:-python3}
TEXT=${1:-}
if [ -z "$TEXT" ]; then
  TEXT=../shared/data/text/tiny_shakespeare.txt
  [ -f "$TEXT" ] || TEXT=.gpu-data/tiny_shakespeare.txt
fi
OUT=${2:-${OUT:-/tmp}/gpu_check}
rm -rf "$OUT" && mkdir -p "$OUT"

"$PY" - <<'PYEOF'
import torch
assert torch.cuda.is_available(), "no CUDA GPU here"
print(f"torch {torch.__version__}, {torch.cuda.get_device_name(0)}, cuDNN {torch.backends.cudnn.version()}, "
      f"bf16 {torch.cuda.is_bf16_supported()}")
PYEOF

echo "== 1. GPU tests"
timeout 120 "$PY" -m pytest -q -p no:cacheprovider -m gpu tests || echo "GPU TESTS FAILED"

echo "== 2. 3 minutes of training on the GPU, default settings"
timeout 240 "$PY" -m lstmlab train "$TEXT" --minutes 3 --out "$OUT/run" --device cuda --no-progress

echo "== 3. generation from that run on the CPU"
CUDA_VISIBLE_DEVICES= timeout 60 "$PY" -m lstmlab generate "$OUT/run" --device cpu --prompt "ROMEO:" --length 300 \
  --temperature 0.7 --seed 1

echo "== 4. throughput"
timeout 100 "$PY" benchmarks/throughput.py --device cuda --steps 10 --out "$OUT/throughput.json"
