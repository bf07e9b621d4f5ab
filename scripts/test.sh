#!/usr/bin/env bash
# Run the test suite: sets up .venv with the test tools on first run (and the Debian packages
# the tests use), then runs pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh dev
bash scripts/system-packages.sh
exec .venv/bin/python -m pytest "$@"
