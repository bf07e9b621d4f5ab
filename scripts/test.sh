#!/usr/bin/env bash
# Run the test suite: sets up .venv with the test tools on first run (and the Debian packages
# the tests use), checks style, the import contracts and the types, runs pytest, then the
# JavaScript client's tests (node --test, against a live service its runner starts) where Node.js
# is installed. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
bash scripts/system-packages.sh
.venv/bin/ruff check app tests bench clients/python
.venv/bin/lint-imports --no-cache --no-logo   # the layers' import contracts (.importlinter)
.venv/bin/mypy   # strict types over app/ and clients/python (mypy.ini)
.venv/bin/python -m pytest "$@"
if command -v node >/dev/null && command -v npm >/dev/null; then
  (cd clients/js && npm ci --no-audit --no-fund --silent && npm test)
else
  echo "[test] Node.js not found: skipping the JavaScript client's tests" >&2
fi
