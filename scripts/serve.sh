#!/usr/bin/env bash
# Start the service on its offline default: sets up .venv on first run, then serves on
# IOPAINT_PORT (8081). Without LaMa weights it serves the cv2 model and says so in /api/v1/health.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/fonts.sh || echo "[serve] fonts not installed: replace-text will refuse to write" >&2
exec .venv/bin/python -m app serve "$@"
