#!/usr/bin/env bash
# The GPU path in one run of under 8 minutes (bench/gpu_check.py says what it measures): this
# service with the LaMa-shaped model at fp32 and fp16 against IOPaint's own server on the same
# device, 2048 px, one client and four, peak GPU memory, start to first answer.
#
#   bash bench/gpu_check.sh                          # on a GPU machine (IOPAINT_DEVICE=cuda)
#   bash bench/gpu_check.sh --device cpu --quick     # the same plumbing on a CPU, ~1 minute (CI)
#   bash bench/gpu_check.sh --no-iopaint             # the service only
# IOPaint's half needs bench/.venv-iopaint (bash bench/setup_iopaint_venv.sh; with a CUDA torch on a
# GPU machine); without it that half is skipped and the table says so. Results: bench/out/gpu_check.md.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
device=cuda
for ((i = 1; i <= $#; i++)); do
  if [ "${!i}" = "--device" ]; then j=$((i + 1)); device=${!j}; fi
done
"$PY" - "$device" <<'PY'
import sys, torch
device = sys.argv[1]
print(f"[gpu_check] torch {torch.__version__}, cuda available: {torch.cuda.is_available()}"
      + (f", {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""), file=sys.stderr)
if device.startswith("cuda") and not torch.cuda.is_available():
    sys.exit("[gpu_check] --device cuda but this torch sees no GPU: run with --device cpu, or on a GPU machine")
PY
if [[ $device == cuda* ]] && command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >&2 || true
fi
exec "$PY" bench/gpu_check.py "$@"
