"""The GPU paths: device placement, bf16 autocast, channels_last, the measured lens batch.

Skipped without CUDA (CI has none); run on a GPU machine with `pytest tests/test_cuda.py`.
"""

from __future__ import annotations

import pytest
import torch

from phaselens import logit, visualize
from phaselens.config import RunConfig
from phaselens.lens import expand_targets, run_lens, store
from phaselens.lens.batching import auto_batch

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

FAST = dict(steps=8, image_size=48, crops=4, lr=0.1, crop_center_std=0.05)


def test_visualize_on_gpu_raises_scores_and_returns_cpu_results(cnn):
    r = visualize(cnn.cuda(), logit([0, 3]), **FAST)
    assert r.images.device.type == "cpu" and r.transparency.device.type == "cpu"
    assert r.images.min() >= 0 and r.images.max() <= 1
    assert (r.trace[-1] > r.trace[0]).all()
    assert next(cnn.parameters()).requires_grad  # weights unfrozen again


def test_gpu_batched_equals_unbatched(cnn):
    cnn = cnn.cuda()
    together = visualize(cnn, logit([0, 4]), seed=7, **FAST)
    alone = visualize(cnn, logit(4), seed=7, **FAST)
    torch.testing.assert_close(together.images[1], alone.images[0], atol=1e-3, rtol=0)


def test_gpu_same_seed_same_image(vit):
    vit = vit.cuda()
    a = visualize(vit, logit(1), seed=3, **FAST)
    b = visualize(vit, logit(1), seed=3, **FAST)
    torch.testing.assert_close(a.images, b.images, atol=1e-4, rtol=0)


def test_channels_last_gives_the_same_image(cnn):
    cnn = cnn.cuda()
    plain = visualize(cnn, logit(2), seed=1, **FAST)
    nhwc = visualize(cnn, logit(2), seed=1, channels_last=True, **FAST)
    torch.testing.assert_close(nhwc.images, plain.images, atol=2e-3, rtol=0)


@pytest.mark.parametrize("name", ["cnn", "vit"])
def test_bf16_autocast_raises_scores(name, request):
    model = request.getfixturevalue(name).cuda()
    r = visualize(model, logit([1, 2]), amp=True, **FAST)
    assert r.settings["amp"] is True
    assert r.trace.dtype == torch.float32 and torch.isfinite(r.trace).all()
    assert (r.trace[-1] > r.trace[0]).all()


def test_auto_batch_measures_the_gpu(cnn):
    cnn = cnn.cuda()
    plan = expand_targets("class:all", cnn)
    b = auto_batch(cnn, plan[0], facets=1, targets=len(plan), config=RunConfig(**FAST))
    assert b == len(plan)  # a tiny model: the whole list fits in one batch


def test_lens_on_gpu_makes_every_target(cnn, tmp_path):
    report = run_lens(cnn.cuda(), tmp_path, "class:all", progress=False, site=False, **FAST)
    assert report.made == 5 and report.batch == 5  # batch measured on the GPU, not given
    assert all(store.read_complete(tmp_path, name) for name in report.names)


def test_a_net_moved_to_the_gpu_before_wrapping_works():
    from conftest import TinyCNN
    from phaselens.model import ImageModel, Preprocess

    model = ImageModel(TinyCNN().cuda(), Preprocess((0.5,) * 3, (0.25,) * 3, (32, 32)))
    assert model._mean.device.type == "cuda"  # not copied to the GPU at every step
    r = visualize(model, logit(1), **FAST)
    assert (r.trace[-1] > r.trace[0]).all()


def test_cli_amp_on_gpu(tmp_path):
    import json

    from phaselens.cli import main

    out = tmp_path / "amp"
    assert (
        main(
            [
                "visualize",
                "--target",
                "class:1",
                "--steps",
                "3",
                "--size",
                "48",
                "--crops",
                "2",
                "--amp",
                "--device",
                "cuda",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert json.loads((out / "manifest.json").read_text())["settings"]["amp"] is True
