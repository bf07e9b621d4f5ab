#!/usr/bin/env bash
# Creates .venv and installs the service's dependencies into it, once: a stamp of the
# requirement files' hash makes a second run a no-op. `scripts/setup.sh dev` adds the
# test and benchmark tools. Used by serve.sh, test.sh and the Dockerfile alike.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
want=runtime; [ "${1:-}" = dev ] && want=dev

files=(requirements.txt requirements-nodeps.txt)
[ "$want" = dev ] && files+=(requirements-dev.txt)
stamp="$VENV/.installed-$want"
hash=$(cat "${files[@]}" | sha256sum | cut -c1-16)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ]; then exit 0; fi

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip --disable-pip-version-check -q "$@"; }
echo "[setup] installing $want dependencies into $VENV (first run only)" >&2
pip install -r requirements.txt
pip install --no-deps -r requirements-nodeps.txt
[ "$want" = dev ] && pip install -r requirements-dev.txt
# exactly one OpenCV: a package that pulled opencv-python would shadow the headless build
if "$VENV/bin/python" -m pip list 2>/dev/null | grep -qiE '^opencv-python '; then
  echo "[setup] removing opencv-python: opencv-python-headless provides cv2" >&2
  pip uninstall -y opencv-python
  pip install --force-reinstall --no-deps "$(grep -E '^opencv-python-headless' requirements.txt)"
fi
echo "$hash" > "$stamp"
