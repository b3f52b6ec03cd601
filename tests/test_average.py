"""Iterate averaging (phaselens.average): the warm-up EMA of a module's parameters."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from phaselens.average import ParamAverage, average_decay


def test_decay_warms_up_then_holds():
    assert average_decay(0.95, 0) == pytest.approx(0.1)
    assert average_decay(0.95, 8) == pytest.approx(9 / 18)
    assert average_decay(0.95, 1000) == 0.95
    assert average_decay(0.0, 500) == 0.0
    decays = [average_decay(0.95, t) for t in range(300)]
    assert decays == sorted(decays)


def test_average_equals_the_weighted_sum_of_every_step():
    """a_T = w_0 x_0 + sum_t w_t x_t with w_t = (1 - d_t) prod_{s > t} d_s: weights sum to 1."""
    torch.manual_seed(0)
    module = nn.Linear(3, 2)
    avg = ParamAverage(module, 0.9)
    history = [[p.detach().clone() for p in module.parameters()]]
    for step in range(40):
        with torch.no_grad():
            for p in module.parameters():
                p.add_(torch.randn_like(p))
        history.append([p.detach().clone() for p in module.parameters()])
        avg.update(step)
    decays = [average_decay(0.9, t) for t in range(40)]
    weights = [float(torch.tensor(decays).prod())]  # the start
    for t in range(40):
        weights.append((1 - decays[t]) * float(torch.tensor(decays[t + 1 :]).prod()))
    assert sum(weights) == pytest.approx(1.0)
    for i, a in enumerate(avg.averages):
        expected = sum(w * h[i] for w, h in zip(weights, history))
        torch.testing.assert_close(a, expected, atol=1e-5, rtol=1e-5)
    avg.copy_to_params()
    for p, a in zip(module.parameters(), avg.averages):
        assert torch.equal(p.detach(), a)


def test_averages_do_not_alias_the_parameters():
    module = nn.Linear(2, 2)
    avg = ParamAverage(module, 0.5)
    before = [a.clone() for a in avg.averages]
    with torch.no_grad():
        module.weight.fill_(3.0)
    assert all(torch.equal(a, b) for a, b in zip(avg.averages, before))
