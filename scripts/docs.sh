#!/usr/bin/env bash
# Build the documentation site into site/ (git-ignored): the README, the guides in docs/, the tutorial
# notebook (not executed: tests/test_notebook.py runs it) and the API reference from the docstrings.
# `bash scripts/docs.sh serve` serves it at http://127.0.0.1:8000 and rebuilds on every change.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check -e ".[docs]"
export NO_MKDOCS_2_WARNING=1
if [[ "${1:-}" == "serve" ]]; then
    shift
    exec python -m mkdocs serve "$@"
fi
[[ "${1:-}" == "build" ]] && shift
python -m mkdocs build --strict "$@"
