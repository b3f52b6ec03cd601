"""Runs that must not go wrong quietly: divergence, memory, full disks, bad values in the API."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from phaselens import RunConfig, logit, memory, visualize
from phaselens.cli import main
from phaselens.errors import NonFiniteError, PhaseLensError
from phaselens.io import atomic_write_bytes, output_folder
from phaselens.lens import run_lens, store
from phaselens.model import ImageModel, Preprocess

FAST = dict(steps=4, image_size=24, crops=2)


class Diverging(nn.Module):
    """Finite logits, except that the logits of the classes in `bad` become NaN from call `after` on."""

    def __init__(self, bad: set[int], after: int = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.head = nn.Linear(4, 4)
        self.bad, self.after, self.calls = bad, after, 0

    def forward(self, x):
        out = self.head(self.conv(x).mean(dim=(2, 3)))
        self.calls += 1
        if self.calls > self.after and self.bad:
            # Overwritten, not multiplied: x * nan would make every image's gradient NaN too.
            out = out.clone()
            out[:, sorted(self.bad)] = float("nan")
        return out


def diverging(bad: set[int], after: int = 0) -> ImageModel:
    torch.manual_seed(0)  # the same weights every time
    return ImageModel(Diverging(bad, after), Preprocess(input_size=(16, 16)), name="diverging")


def test_a_nan_objective_stops_the_run_naming_image_and_step():
    model = diverging({1}, after=2)  # finite for the dry run (memory estimate) and the first step
    with pytest.raises(NonFiniteError, match=r"NaN or infinite at step \d+ for image 1 \(1 of 3 diverged\)") as err:
        visualize(model, logit([0, 1, 2]), **FAST)
    assert err.value.images == [1] and 0 <= err.value.step < FAST["steps"]


def test_an_infinite_model_output_is_caught_too():
    class Inf(nn.Module):
        def forward(self, x):
            return x.mean(dim=(2, 3)) * float("inf")

    with pytest.raises(NonFiniteError, match="step 0"):
        visualize(ImageModel(Inf(), Preprocess(input_size=(8, 8))), logit(0), **FAST)


def test_visualize_cli_writes_no_image_of_a_diverged_run(tmp_path, capsys):
    (tmp_path / "bad.py").write_text(
        "import torch\nfrom torch import nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__(); self.conv = nn.Conv2d(3, 2, 3)\n"
        "    def forward(self, x):\n        return self.conv(x).mean(dim=(2, 3)) / 0.0 * 0.0\n"
        "def build():\n    return Net()\n"
    )
    out = tmp_path / "out"
    argv = ["visualize", "--model", f"{tmp_path / 'bad.py'}:build", "--input-size", "16", "--target", "class:0"]
    assert main([*argv, "--steps", "3", "--size", "24", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "class 0: the objective became NaN or infinite at step 0" in err and "Traceback" not in err
    assert not out.exists()


def test_lens_marks_failed_targets_goes_on_and_a_resume_retries(tmp_path):
    out = tmp_path / "lens"
    report = run_lens(diverging({2}), out, "class:all", batch=2, progress=False, **FAST)
    assert sorted(report.failed) == ["class_0002"] and report.made == 3
    failed = store.read_failed(out, "class_0002")
    assert failed is not None and failed.failed is not None and failed.failed["step"] == 0
    assert store.read_complete(out, "class_0002") is None
    assert not (store.target_dir(out, "class_0002") / "image.png").exists()
    assert all(store.read_complete(out, f"class_000{i}") is not None for i in (0, 1, 3))
    # The partner of the failed target in its batch is exactly what it is when made alone.
    alone = run_lens(diverging(set()), tmp_path / "alone", "class:1", batch=1, progress=False, **FAST)
    assert alone.failed == {}
    same = (store.target_dir(out, "class_0001") / "image.png").read_bytes()
    assert same == (store.target_dir(tmp_path / "alone", "class_0001") / "image.png").read_bytes()
    # Resuming with a model that no longer diverges retries only the failed target, and clears the mark.
    again = run_lens(diverging(set()), out, "class:all", batch=2, progress=False, **FAST)
    assert again.made == 1 and again.skipped == 3 and again.failed == {}
    assert store.read_complete(out, "class_0002") is not None and store.read_failed(out, "class_0002") is None


def test_lens_cli_exits_1_when_a_target_failed(tmp_path, capsys):
    (tmp_path / "half.py").write_text(
        "import torch\nfrom torch import nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self):\n        super().__init__(); self.conv = nn.Conv2d(3, 3, 3)\n"
        "    def forward(self, x):\n"
        "        out = self.conv(x).mean(dim=(2, 3))\n"
        "        return torch.cat([out[:, :2], torch.full_like(out[:, 2:], float('nan'))], dim=1)\n"
        "def build():\n    return Net()\n"
    )
    out = tmp_path / "lens"
    argv = ["lens", "--model", f"{tmp_path / 'half.py'}:build", "--input-size", "16", "--no-progress"]
    assert main([*argv, "--steps", "2", "--size", "24", "--crops", "1", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "1 target(s) failed" in err and "class_0002" in err and "retries" in err
    assert (out / "site" / "index.html").is_file()  # the site shows what was made


def test_memory_estimate_scales_and_refuses_with_advice(monkeypatch):
    model = ImageModel(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten()), Preprocess(input_size=(32, 32)))
    cfg = RunConfig(**FAST)
    one, four = memory.estimate(model, cfg, 1), memory.estimate(model, cfg, 4)
    assert four.total == pytest.approx(4 * one.total, rel=0.01)
    more_crops = memory.estimate(model, cfg.replace(crops=8), 1)
    assert more_crops.activations == 4 * one.activations
    # Measured activations: conv (8x30x30) + relu (same) + flatten (same) per crop, float32.
    assert memory.activation_bytes(model) == 3 * 8 * 30 * 30 * 4
    monkeypatch.setattr(memory, "available_bytes", lambda device: 10 * one.total)
    assert memory.max_batch(model, cfg, 100) == int(10 * memory.USABLE)
    with pytest.raises(
        PhaseLensError, match=r"needs about .* but cpu has .* free; lower .*number of images at once \(now 64"
    ):
        visualize(model, logit([0] * 64), **FAST)
    visualize(model, logit([0, 1]), **FAST)  # what fits runs


def test_lens_on_cpu_takes_fewer_targets_per_batch_when_memory_is_short(tmp_path, monkeypatch):
    model = ImageModel(nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Flatten()), Preprocess(input_size=(32, 32)))
    one = memory.estimate(model, RunConfig(**FAST).replace(image_size=(24, 24)), 1)
    monkeypatch.setattr(memory, "available_bytes", lambda device: int(3.5 * one.total / memory.USABLE))
    report = run_lens(model, tmp_path / "lens", "class:0-9", progress=False, site=False, **FAST)
    assert report.batch == 3 and report.made == 10


def test_output_folder_removes_what_it_made_when_the_run_is_refused(tmp_path):
    target = tmp_path / "a" / "b" / "c"
    with pytest.raises(PhaseLensError, match="refused"), output_folder(target):
        assert target.is_dir()
        raise PhaseLensError("refused")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "keep").mkdir()
    with output_folder(tmp_path / "keep") as out:
        (out / "x").write_text("1")
    assert (tmp_path / "keep" / "x").is_file()


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs (needs root and permission to mount; skipped elsewhere)."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)], capture_output=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.decode().strip()[:80]}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_a_full_disk_is_one_clear_error_and_leaves_no_half_file(tiny_disk):
    (tiny_disk / "old.bin").write_bytes(b"old")
    with pytest.raises(PhaseLensError, match=r"cannot write .*old\.bin: No space left on device"):
        atomic_write_bytes(tiny_disk / "old.bin", os.urandom(200_000))
    assert (tiny_disk / "old.bin").read_bytes() == b"old"  # the old file is intact
    assert sorted(p.name for p in tiny_disk.iterdir()) == ["old.bin"]  # no temporary file left


def test_lens_on_a_full_disk_stops_with_the_path_and_resumes_elsewhere_cleanly(tiny_disk, capsys):
    argv = ["lens", "--model", "zoo:cnn", "--no-progress", "--steps", "1", "--size", "128", "--crops", "1"]
    assert main([*argv, "--out", str(tiny_disk / "lens")]) == 2
    err = capsys.readouterr().err.strip()
    assert "No space left on device" in err and "Traceback" not in err and len(err.splitlines()) == 1
    assert not list(tiny_disk.rglob(".*.tmp"))  # only whole files, or nothing
    for manifest in tiny_disk.rglob(store.MANIFEST):
        complete = store.read_complete(tiny_disk / "lens", manifest.parent.name)
        assert complete is not None and json.loads(manifest.read_text())["name"] == manifest.parent.name


FIELDS = {
    "steps": st.one_of(st.integers(-5, 5), st.floats(allow_nan=True), st.none(), st.text(max_size=3)),
    "image_size": st.one_of(
        st.integers(-5, 64), st.tuples(st.integers(-2, 40), st.integers(-2, 40)), st.text(max_size=2)
    ),
    "crops": st.one_of(st.integers(-3, 4), st.floats(allow_nan=True), st.booleans()),
    "crop_size": st.tuples(st.floats(allow_nan=True), st.floats(allow_nan=True)),
    "noise": st.floats(allow_nan=True, allow_infinity=True),
    "crop_center_std": st.floats(allow_nan=True, allow_infinity=True),
    "lr": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=2)),
    "fourier_decay": st.floats(allow_nan=True, allow_infinity=True),
    "ema": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.booleans(), st.text(max_size=2)),
    "method": st.text(max_size=6),
    "optimizer": st.text(max_size=6),
}


@settings(max_examples=150, deadline=None)
@given(field=st.sampled_from(sorted(FIELDS)), data=st.data())
def test_run_config_accepts_or_raises_phaselens_error(field, data):
    value = data.draw(FIELDS[field])
    try:
        cfg = RunConfig(**{field: value})
    except PhaseLensError:
        return
    # Accepted values are usable: the crop settings and the image shape can be built.
    cfg.crop_config()
    h, w = cfg.image_shape((16, 16))
    assert h >= 8 and w >= 8


@pytest.mark.parametrize("bad", [0, 0.0, float("nan"), float("inf")])
def test_objective_algebra_refuses_non_finite_results(bad):
    obj = logit(0)
    with pytest.raises(PhaseLensError, match="finite"):
        obj / bad if bad == 0 else obj * bad
    if bad != 0:
        with pytest.raises(PhaseLensError, match="finite"):
            obj + bad


@pytest.mark.parametrize("seed", [-1, 2**63, 2**70, 1.5, "3", True])
def test_seeds_out_of_range_are_refused(seed):
    model = ImageModel(nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten()), Preprocess(input_size=(8, 8)))
    with pytest.raises(PhaseLensError, match=r"seed must be an integer in 0..2\*\*63-1"):
        visualize(model, logit(0), seed=seed, **FAST)


def test_a_seed_at_the_top_of_the_range_works():
    model = ImageModel(nn.Sequential(nn.Conv2d(3, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten()), Preprocess())
    r = visualize(model, logit(0), seed=2**63 - 1, **FAST)
    assert torch.isfinite(r.images).all()


def test_the_cli_error_of_a_missing_path_is_the_path(tmp_path: Path, capsys):
    assert main(["layers", "--model", "zoo:cnn", "--weights", str(tmp_path / "nope.safetensors")]) == 2
    assert "nope.safetensors" in capsys.readouterr().err
