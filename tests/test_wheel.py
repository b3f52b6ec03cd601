"""The release: a wheel built from the checkout installs into a clean virtualenv and works there.

Slow (a fresh virtualenv downloads torch and the other dependencies from the package index: a few
minutes on a 2-core CPU), so it is marked ``slow``. The wheel is built from a copy of the files git
would ship (tracked or untracked, not ignored), so nothing left in the checkout's build/ can leak in.
"""

from __future__ import annotations

import fnmatch
import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PIP = ["-m", "pip", "--disable-pip-version-check", "--no-input"]

API_SNIPPET = """
import phaselens as pl
m = pl.load_model("zoo:cnn")
r = pl.visualize(m, [0, 1], steps=2)
print(r.images.shape)
print("FILE", pl.__file__)
"""


def _run(
    cmd: Sequence[str | os.PathLike[str]], cwd: Path, env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, (
        f"{' '.join(map(str, cmd))} exited {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n"
        f"--- stderr\n{proc.stderr[-4000:]}"
    )
    return proc


def _clean_env() -> dict[str, str]:
    """The environment without anything pointing at this checkout or at the current virtualenv."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONSTARTUP")}
    env["PYTHONNOUSERSITE"] = "1"
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _shipped_copy(dest: Path) -> Path:
    """Copy the files of the checkout that git would ship (tracked + untracked, minus ignored) to `dest`."""
    listed = (
        subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .split("\0")
    )
    for rel in filter(None, listed):
        src = ROOT / rel
        if src.is_file():  # a tracked file being deleted is not shipped
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


def _build_wheel(src: Path, out: Path, env: dict[str, str]) -> Path:
    """`pip wheel` without build isolation where setuptools is here (offline), with it otherwise."""
    cmd: list[str | os.PathLike[str]] = [sys.executable, *PIP, "wheel", "--no-deps", "-q", "-w", out, src]
    if importlib.util.find_spec("setuptools") is not None:
        cmd.insert(-1, "--no-build-isolation")
    _run(cmd, cwd=src, env=env, timeout=600)
    wheels = sorted(out.glob("phaselens-*.whl"))
    assert len(wheels) == 1, f"expected one phaselens wheel in {out}, found {wheels}"
    return wheels[0]


@pytest.mark.slow
def test_wheel_installs_and_runs_in_a_clean_virtualenv(tmp_path):
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("needs a git checkout (the wheel is built from the files git ships)")
    env = _clean_env()

    # 1. Build the wheel and check that the data files are in it.
    wheel = _build_wheel(_shipped_copy(tmp_path / "src"), tmp_path / "dist", env)
    names = zipfile.ZipFile(wheel).namelist()
    for weights in sorted((ROOT / "phaselens" / "zoo" / "weights").glob("*.safetensors")):
        assert f"phaselens/zoo/weights/{weights.name}" in names, f"zoo weights {weights.name} missing from {wheel.name}"
    assert fnmatch.filter(names, "phaselens/zoo/weights/*.safetensors"), "no zoo weights in the wheel"
    spectra = [
        n for n in names if n.startswith("phaselens/") and n.endswith(".json") and "spectrum" in n.rsplit("/", 1)[-1]
    ]
    assert spectra, f"no default spectrum (phaselens/**/*spectrum*.json) in {wheel.name}"
    static = sorted(p.name for p in (ROOT / "phaselens" / "lens" / "static").iterdir() if p.is_file())
    assert static, "phaselens/lens/static is empty in the checkout"
    for name in static:
        assert f"phaselens/lens/static/{name}" in names, f"Lens static file {name} missing from {wheel.name}"

    # 2. A clean virtualenv (no system site packages) with the wheel and its dependencies from the index.
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", venv], cwd=tmp_path, env=env, timeout=300)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    python = bindir / ("python.exe" if os.name == "nt" else "python")
    _run([python, *PIP, "install", "-q", wheel], cwd=tmp_path, env=env, timeout=1800)
    env["VIRTUAL_ENV"] = str(venv)
    env["PATH"] = os.pathsep.join([str(bindir), env.get("PATH", "")])

    # 3. From a folder outside the checkout: the CLI's main job, then the Python API.
    work = tmp_path / "elsewhere"
    work.mkdir()
    demo = work / "demo"
    _run([bindir / "phaselens", "demo", "--steps", "8", "--out", demo], cwd=work, env=env, timeout=900)
    assert (demo / "index.html").is_file(), (
        f"phaselens demo wrote no index.html: {sorted(p.name for p in demo.iterdir())}"
    )
    assert list(demo.rglob("site/index.html")), "phaselens demo built no Lens site"

    proc = _run([python, "-c", API_SNIPPET], cwd=work, env=env, timeout=600)
    assert "torch.Size([2, 3," in proc.stdout, proc.stdout
    installed = Path(proc.stdout.split("FILE", 1)[1].strip()).resolve()
    assert installed.is_relative_to(venv.resolve()), f"phaselens imported from {installed}, not from the venv"
    assert not installed.is_relative_to(ROOT), f"phaselens imported from the checkout: {installed}"
