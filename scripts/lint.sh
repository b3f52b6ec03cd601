#!/usr/bin/env bash
# Lint and types, as CI runs them before the tests: ruff (rules and formatting) and mypy, configured
# in pyproject.toml. Installs the dev extra first (ruff, mypy, stubs) and calls the tools as
# `python -m ...`, so they need not be on PATH. Every check runs even when an earlier one fails;
# the exit status is non-zero if any failed.
# Fix what ruff can with `ruff check --fix phaselens tests benchmarks scripts` and `ruff format ...`.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install --quiet --disable-pip-version-check -e ".[dev]"

PATHS=(phaselens tests benchmarks scripts)
failed=()
run() {
    echo "+ $*"
    "$@" || failed+=("$*")
}
run python -m ruff check "${PATHS[@]}"
run python -m ruff format --check "${PATHS[@]}"
run python -m mypy

if [ "${#failed[@]}" -gt 0 ]; then
    printf 'lint: failed: %s\n' "${failed[@]}" >&2
    exit 1
fi
echo "lint: ruff check, ruff format --check and mypy passed"
