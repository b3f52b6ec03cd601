"""The tutorial notebook (docs/tutorial.ipynb) runs from top to bottom.

It is stored without outputs and not executed when the docs are built, so this is the test that keeps
it working: nbmake runs every cell in a fresh kernel, in a pytest of its own (about 20 s on a 2-core CPU).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "docs" / "tutorial.ipynb"


def test_notebook_is_stored_without_outputs():
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    assert code, "the tutorial has no code cells"
    assert all(not c["outputs"] and c["execution_count"] is None for c in code), (
        "store docs/tutorial.ipynb without outputs (e.g. jupyter nbconvert --clear-output --inplace)"
    )


@pytest.mark.slow
def test_tutorial_notebook_runs(tmp_path):
    for module in ("nbmake", "ipykernel"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install -e '.[test]' brings it)")
    env = dict(os.environ, MPLBACKEND="Agg")
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "--nbmake",
        "--nbmake-timeout=600",
        str(NOTEBOOK),
        "-q",
        "-p",
        "no:cacheprovider",
        "--rootdir",
        str(tmp_path),
        "-c",
        os.devnull,
    ]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"the tutorial failed:\n{proc.stdout[-6000:]}\n{proc.stderr[-3000:]}"
