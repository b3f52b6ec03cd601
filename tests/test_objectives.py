"""Objectives: the algebra is exact, token outputs are read right, errors are clear."""

from __future__ import annotations

import pytest
import torch

from phaselens.errors import PhaseLensError
from phaselens.features import Context, spatial
from phaselens.objectives import channel, direction, logit, neuron


def _ctx(batch=2, crops=3, classes=5):
    torch.manual_seed(0)
    n = batch * crops
    outputs = {"conv": torch.randn(n, 4, 6, 6), "tokens": torch.randn(n, 1 + 9, 4)}
    return Context(outputs, torch.randn(n, classes), batch, crops)


def test_algebra_scores_equal_the_algebra_of_scores():
    ctx = _ctx()
    a, b = logit(1), channel("conv", 2)
    torch.testing.assert_close((2 * a - b)(ctx), 2 * a(ctx) - b(ctx))
    torch.testing.assert_close((a / 4 + b * 3)(ctx), a(ctx) / 4 + 3 * b(ctx))
    torch.testing.assert_close((1 - a)(ctx), 1 - a(ctx))
    torch.testing.assert_close((-a)(ctx), -a(ctx))
    torch.testing.assert_close((a * b)(ctx), a(ctx) * b(ctx))
    torch.testing.assert_close((2 / (a + 10))(ctx), 2 / (a(ctx) + 10))


def test_descriptions_read_like_the_formula():
    assert (2 * logit(3) - channel("l", 5)).description == "2 * logit[3] - channel(l, 5)"
    assert (logit(1) - (logit(2) + logit(3))).description == "logit[1] - (logit[2] + logit[3])"
    assert (0.5 * (logit(1) + logit(2))).description == "0.5 * (logit[1] + logit[2])"
    assert neuron("l", [1, 2], x=0, y=1).description == "neuron(l, 1,2, x=0, y=1)"


def test_combined_objectives_need_the_union_of_layers():
    obj = channel("a", 1) + neuron("b", 2) - logit(0)
    assert set(obj.layers) == {"a", "b"} and obj.needs_logits


def test_list_targets_give_one_target_per_image():
    ctx = _ctx(batch=2, crops=3)
    scores = logit([4, 1])(ctx)
    expected = torch.cat([ctx.logits[:3, 4], ctx.logits[3:, 1]])
    torch.testing.assert_close(scores, expected)


def test_channel_and_neuron_read_cnn_maps():
    ctx = _ctx()
    maps = ctx.outputs["conv"]
    torch.testing.assert_close(channel("conv", 2)(ctx), maps[:, 2].mean(dim=(1, 2)))
    torch.testing.assert_close(neuron("conv", 2)(ctx), maps[:, 2, 3, 3])
    torch.testing.assert_close(neuron("conv", 1, x=5, y=0)(ctx), maps[:, 1, 0, 5])


def test_token_outputs_skip_the_cls_token_and_use_the_patch_grid():
    ctx = _ctx()
    tokens = ctx.outputs["tokens"]  # 1 CLS + 3x3 patches
    torch.testing.assert_close(channel("tokens", 1)(ctx), tokens[:, 1:, 1].mean(dim=1))
    # Neuron x=2, y=1 is patch 1 * 3 + 2 = 5, token 6.
    torch.testing.assert_close(neuron("tokens", 3, x=2, y=1)(ctx), tokens[:, 6, 3])
    # Explicit prefix: no CLS token to skip.
    torch.testing.assert_close(channel("tokens", 1, prefix_tokens=0)(ctx), tokens[:, :, 1].mean(dim=1))


def test_nhwc_maps_are_detected_and_vectors_become_1x1():
    t = torch.randn(2, 7, 7, 32)
    assert spatial(t).shape == (2, 32, 7, 7)
    torch.testing.assert_close(spatial(t)[:, 5], t[..., 5])
    assert spatial(torch.randn(2, 32)).shape == (2, 32, 1, 1)


def test_direction_is_dot_times_cosine_power():
    ctx = _ctx()
    v = torch.tensor([1.0, 0.0, -1.0, 2.0])
    maps = ctx.outputs["conv"]
    dot = torch.einsum("nchw,c->nhw", maps, v)
    torch.testing.assert_close(direction("conv", v)(ctx), dot.mean(dim=(1, 2)))
    cos = (dot / (maps.norm(dim=1) * v.norm())).clamp_min(0.1)
    torch.testing.assert_close(direction("conv", v, cossim_pow=2)(ctx), (dot * cos**2).mean(dim=(1, 2)))


def test_out_of_range_indices_say_the_valid_range():
    ctx = _ctx(classes=5)
    with pytest.raises(PhaseLensError, match="class 7 is out of range.*0..4"):
        logit(7)(ctx)
    with pytest.raises(PhaseLensError, match=r"channel 4 is out of range.*0..3"):
        channel("conv", 4)(ctx)
    with pytest.raises(PhaseLensError, match="outside"):
        neuron("conv", 0, x=6)(ctx)
    with pytest.raises(PhaseLensError, match="4 channels"):
        direction("conv", torch.ones(3))(ctx)
    with pytest.raises(PhaseLensError, match="3 targets but the batch has 2"):
        logit([1, 2, 3])(ctx)
    with pytest.raises(PhaseLensError, match="cannot combine"):
        logit([1, 2]) + logit([1, 2, 3])
    with pytest.raises(PhaseLensError, match="list of ints"):
        logit("cat")
