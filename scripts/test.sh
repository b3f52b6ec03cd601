#!/usr/bin/env bash
# The test command of the README: installs what the tests need, then runs them.
# Extra arguments go to pytest (e.g. `bash scripts/test.sh tests/test_render.py -x`).
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check -e ".[test]"
bash scripts/install_test_deps.sh
python -m pytest "$@"
