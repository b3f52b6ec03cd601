"""The optimization loop: ascent, batching, seeds, frozen models, transparency."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from phaselens import channel, direction, logit, neuron, visualize
from phaselens.errors import PhaseLensError
from phaselens.model import ImageModel, Preprocess
from phaselens.param import make_param
from phaselens.render import evaluate
from phaselens.rng import SeedGroups

FAST = dict(steps=8, image_size=48, crops=4, lr=0.1, crop_center_std=0.05)


def _rises(result, model=None, objective=None) -> bool:
    """Paired check: the final images score higher than the initial ones on the same 32 crops,
    drawn from the run's own crop distribution."""
    if model is None:
        return bool((result.trace[-2:].mean(0) > result.trace[:2].mean(0)).all())
    s = result.settings
    start = make_param(s["method"], SeedGroups(s["seeds"]), tuple(s["image_size"]), result.images.shape[1])()
    crops = dict(crops=32, seed=99, crop_size=s["crop_size"], crop_center_std=s["crop_center_std"])
    before = evaluate(model, objective, start.detach(), **crops)
    after = evaluate(model, objective, result.images, **crops)
    return bool((after > before).all())


CNN_OBJECTIVES = {
    "logit": logit([1, 3]),
    "channel": channel("conv2", [2, 9]),
    "neuron": neuron("conv2", 4),
    "neuron_xy": neuron("conv1", 3, x=2, y=5),
    "direction": direction("conv2", torch.linspace(-1, 1, 16), cossim_pow=1.0),
    "algebra": 2 * logit(2) - 0.5 * channel("conv1", 1),
}


# A single neuron of a random-init net has mixed-sign weights: under jittered crops a
# pixel's gradient flips sign from step to step, so neurons are tested at a fixed geometry.
STILL = dict(crop_size=(0.5, 0.5), crop_center_std=0.0)


@pytest.mark.parametrize("name", list(CNN_OBJECTIVES))
@pytest.mark.parametrize("method", ["maco", "fourier", "pixel"])
def test_every_objective_rises_on_a_cnn(cnn, name, method):
    obj = CNN_OBJECTIVES[name]
    settings = {**FAST, **STILL} if name.startswith("neuron") else FAST
    assert _rises(visualize(cnn, obj, method=method, **settings), cnn, obj)


VIT_OBJECTIVES = {
    "logit": logit(2),
    "channel": channel("blocks.0", [3, 7]),
    "neuron": neuron("blocks.1", 5, x=1, y=2),
    "direction": direction("blocks.1", torch.randn(16, generator=torch.Generator().manual_seed(0))),
}


@pytest.mark.parametrize("name", list(VIT_OBJECTIVES))
def test_every_objective_rises_on_token_outputs(vit, name):
    obj = VIT_OBJECTIVES[name]
    settings = {**FAST, **STILL} if name.startswith("neuron") else FAST
    assert _rises(visualize(vit, obj, **settings), vit, obj)


def test_batched_equals_unbatched(cnn):
    targets = [0, 3, 4]
    together = visualize(cnn, logit(targets), seed=7, **FAST)
    for i, t in enumerate(targets):
        alone = visualize(cnn, logit(t), seed=7, **FAST)
        torch.testing.assert_close(together.images[i], alone.images[0], atol=1e-4, rtol=0)
        torch.testing.assert_close(together.transparency[i], alone.transparency[0], atol=1e-5, rtol=1e-3)


def test_same_seed_same_result_other_seed_other_result(cnn):
    a = visualize(cnn, logit(1), seed=3, **FAST)
    b = visualize(cnn, logit(1), seed=3, **FAST)
    c = visualize(cnn, logit(1), seed=4, **FAST)
    assert torch.equal(a.images, b.images) and torch.equal(a.trace, b.trace)
    assert (a.images - c.images).abs().max() > 0.05


def test_seed_list_gives_facets_of_one_target(cnn):
    r = visualize(cnn, logit(2), seed=[0, 1, 0], **FAST)
    assert r.images.shape[0] == 3
    torch.testing.assert_close(r.images[0], r.images[2])
    assert (r.images[0] - r.images[1]).abs().max() > 0.05


@pytest.mark.parametrize("size", [(40, 64), (37, 51), (64, 33)])
def test_non_square_and_odd_sizes(cnn, size):
    r = visualize(cnn, logit([0, 1]), **{**FAST, "image_size": size})
    assert r.images.shape == (2, 3, *size) and r.transparency.shape == (2, 3, *size)
    assert _rises(r, cnn, logit([0, 1]))


def test_grayscale_models_get_one_channel_images(gray_cnn):
    r = visualize(gray_cnn, logit(1), **FAST)
    assert r.images.shape == (1, 1, 48, 48)
    assert _rises(r, gray_cnn, logit(1))


def test_default_image_size_follows_the_model_input(cnn):
    r = visualize(cnn, logit(0), steps=1, crops=1)
    assert r.images.shape[-2:] == (74, 74)  # 32 * 512 / 224, rounded to even


def test_model_is_frozen_during_the_run_and_restored_after(cnn):
    cnn.train()
    cnn.net.head.weight.requires_grad_(False)
    before = {k: v.clone() for k, v in cnn.state_dict().items()}
    seen = []
    hook = cnn.net.conv1.register_forward_hook(lambda m, i, o: seen.append((m.training, m.weight.requires_grad)))
    visualize(cnn, logit(0), **FAST)
    hook.remove()
    assert set(seen) == {(False, False)}
    assert cnn.training and cnn.net.conv1.weight.requires_grad and not cnn.net.head.weight.requires_grad
    assert all(p.grad is None for p in cnn.parameters())
    assert all(torch.equal(before[k], v) for k, v in cnn.state_dict().items())


def test_transparency_is_the_accumulated_input_gradient():
    # A model that reads only the red channel: green and blue get no gradient.
    class RedOnly(nn.Module):
        def forward(self, x):
            return torch.stack([x[:, 0].mean((1, 2)), -x[:, 0].mean((1, 2))], dim=1)

    model = ImageModel(RedOnly(), Preprocess(input_size=(16, 16)))
    r = visualize(model, logit(0), **FAST)
    t = r.transparency[0]
    assert float(t[0].sum()) > 0 and float(t[1:].abs().sum()) == 0
    alpha = r.alpha()
    assert alpha.shape == (1, 1, 48, 48) and float(alpha.min()) >= 0 and float(alpha.max()) == pytest.approx(1.0)


def test_forward_stops_after_the_last_needed_layer(cnn):
    calls = []
    cnn.net.head.register_forward_hook(lambda *a: calls.append(1))
    visualize(cnn, channel("conv1", 0), **FAST)
    assert calls == []  # neither the steps nor the dry runs (layouts, memory estimate) reach the head
    visualize(cnn, logit(0), **FAST)  # measures the full forward's activations once per model
    calls.clear()
    visualize(cnn, logit(0), **FAST)
    assert len(calls) == FAST["steps"]


def test_bad_inputs_are_clear_errors(cnn):
    with pytest.raises(PhaseLensError, match="no layer named 'conv3'.*closest: conv2, conv1"):
        visualize(cnn, channel("conv3", 0), **FAST)
    with pytest.raises(
        PhaseLensError, match=r"channel 16 is out of range: layer conv2 has 16 channels \(valid 0..15\)"
    ):
        visualize(cnn, channel("conv2", 16), **FAST)
    with pytest.raises(PhaseLensError, match="class 5 is out of range"):
        visualize(cnn, [4, 5], **FAST)
    with pytest.raises(PhaseLensError, match="2 targets and 3 seeds"):
        visualize(cnn, logit([1, 2]), seed=[0, 1, 2], **FAST)
    with pytest.raises(PhaseLensError, match="unknown method"):
        visualize(cnn, logit(1), method="lucid", **FAST)
    with pytest.raises(PhaseLensError, match="steps"):
        visualize(cnn, logit(1), steps=0)


def test_result_records_settings_and_scores(cnn):
    r = visualize(cnn, logit([1, 2]), **FAST)
    assert r.settings["method"] == "maco" and r.settings["image_size"] == [48, 48]
    assert r.settings["mean"] == [0.5] * 3 and r.settings["objective"] == "logit[1,2]"
    assert r.final_scores == [float(v) for v in r.trace[-1]]


def test_saved_files_are_readable_by_others(cnn, tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        visualize(cnn, logit(0), **FAST).save(tmp_path)
    finally:
        os.umask(old)
    for f in tmp_path.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o644, f


def _record_params(monkeypatch) -> list:
    """The image parameterizations `visualize` makes, in a list (after the run: its final values)."""
    from phaselens import render

    made = []

    def recording(*args, **kwargs):
        made.append(make_param(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(render, "make_param", recording)
    return made


@pytest.mark.parametrize("method", ["maco", "fourier", "pixel"])
def test_final_image_is_made_from_the_moving_average_of_the_parameters(cnn, method, monkeypatch):
    """The images are the parameterization rendered at the warm-up EMA of every step's parameters;
    with ema=0, at the last step's."""
    from phaselens.average import average_decay

    made = _record_params(monkeypatch)
    snapshots: list[list[torch.Tensor]] = []

    def record(step, scores):
        snapshots.append([p.detach().clone() for p in made[-1].parameters()])

    r = visualize(cnn, logit([1, 2]), method=method, seed=[5, 6], ema=0.8, callback=record, **FAST)
    param = make_param(method, SeedGroups([5, 6]), (48, 48))
    expected = [p.detach().clone() for p in param.parameters()]  # the run's starting point, same seeds
    for step, values in enumerate(snapshots):
        d = average_decay(0.8, step)
        expected = [d * e + (1 - d) * v for e, v in zip(expected, values)]
    with torch.no_grad():
        for p, e in zip(param.parameters(), expected):
            p.copy_(e)
        torch.testing.assert_close(r.images, param(), atol=1e-5, rtol=0)
        last = make_param(method, SeedGroups([5, 6]), (48, 48))
        for p, v in zip(last.parameters(), snapshots[-1]):
            p.copy_(v)
        last_image = last()
    # The average never feeds back: without it, the same run ends at the last step's parameters.
    plain = visualize(cnn, logit([1, 2]), method=method, seed=[5, 6], ema=0.0, **FAST)
    torch.testing.assert_close(plain.images, last_image, atol=1e-5, rtol=0)
    assert (r.images - plain.images).abs().max() > 1e-3  # averaging changed the image
    assert r.settings["ema"] == 0.8 and plain.settings["ema"] == 0.0


def test_moving_average_keeps_the_maco_magnitude_exact(cnn, monkeypatch):
    made = _record_params(monkeypatch)
    visualize(cnn, logit(3), ema=0.9, **FAST)
    param = made[-1]  # holds the averaged phases after the run
    with torch.no_grad():
        magnitude = torch.fft.rfft2(param.raw()).abs()
    torch.testing.assert_close(magnitude[0], param.magnitude, rtol=1e-4, atol=1e-4 * float(param.magnitude.max()))
