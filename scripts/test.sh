#!/usr/bin/env bash
# The test command of the README: installs what the tests need, then runs the tests and the doctests
# of phaselens/ (see [tool.pytest.ini_options] in pyproject.toml). Extra arguments go to pytest:
#   bash scripts/test.sh -m "not slow and not browser and not gpu"    the fast suite
#   bash scripts/test.sh tests/test_render.py -x                      one file
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check -e ".[test]"
bash scripts/install_test_deps.sh
python -m pytest "$@"
