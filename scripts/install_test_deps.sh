#!/usr/bin/env bash
# Test-only dependencies: a real headless browser for the Lens site test.
# Debian's chromium + chromium-driver (apt) and selenium (pip). Idempotent:
# does nothing that is already there. Needs root for apt (or sudo).
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "install_test_deps: not root and no sudo; cannot apt-get install chromium" >&2
        exit 1
    fi
fi

if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -q
    $SUDO apt-get install -y -q --no-install-recommends chromium chromium-driver fonts-dejavu-core
fi

if ! python -c "import selenium" >/dev/null 2>&1; then
    python -m pip install -q "selenium>=4.10"
fi

echo "install_test_deps: chromium $(/usr/bin/chromium --version 2>/dev/null | head -1 || echo '?'); selenium $(python -c 'import selenium; print(selenium.__version__)')"
