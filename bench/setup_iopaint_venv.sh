#!/usr/bin/env bash
# A separate venv with IOPaint 1.6.0's own server, for bench/speed.py: bench/.venv-iopaint
# (git-ignored). Nothing is added to the repo's requirements.
#
# - torch==2.13.0 first: that pin is the CPU wheel on this machine's disk. It is repeated in
#   every later install so that no resolver step can swap it for another torch (which would
#   pull gigabytes of CUDA wheels).
# - iopaint with --no-deps (its pins: Pillow 9.5, FastAPI 0.108, gradio, controlnet-aux ->
#   torchvision, opencv-python); then only what `iopaint start` really imports, found by trying,
#   at the versions the service's own venv uses.
# - torchvision is NOT installed: the wheels matching torch 2.13 are CUDA builds whose operators
#   do not load on the CPU torch. IOPaint's api.py imports its (disabled) plugins, which import
#   torchvision names; bench/iopaint_stub/torchvision stands in for them (speed.py puts it on
#   PYTHONPATH). It has no dist-info, so transformers/diffusers still treat torchvision as absent.
set -euo pipefail
cd "$(dirname "$0")"
VENV=${VENV:-.venv-iopaint}
PY=${PYTHON:-python3.11}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@"; }
pip install torch==2.13.0
pip install --no-deps iopaint==1.6.0
pip install torch==2.13.0 \
  fastapi==0.165.0 uvicorn==0.54.0 pydantic==2.14.4 python-multipart==0.0.34 \
  numpy==2.4.6 pillow==13.0.0 opencv-python-headless==5.0.0.93 \
  loguru==0.7.3 typer typer-config==1.4.0 python-socketio==5.7.2 packaging \
  huggingface-hub==0.25.2 diffusers==0.27.2 transformers==4.48.3 einops==0.8.2 omegaconf==2.4.0
"$VENV/bin/python" -c "import torch; assert torch.__version__.startswith('2.13.0'), torch.__version__"
PYTHONPATH=iopaint_stub "$VENV/bin/python" -c "import iopaint.cli, iopaint.api, iopaint.model_manager; print('iopaint server imports: ok')"
