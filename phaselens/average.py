"""Iterate averaging: the final image is made from a moving average of the parameters.

With lr 1 and new random crops every step, the last step's parameters carry that
step's crops; their exponential moving average is the image the whole end of the run
agreed on. For MACO it averages the phases (and mean colours), so the magnitude stays
exact. On the zoo it raised both the final objective and the transfer to other models
(docs/benchmark.md, issue 20).
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["ParamAverage", "average_decay"]


def average_decay(decay: float, step: int) -> float:
    """The decay used after `step` (0-based): ``min(decay, (1 + step) / (10 + step))``.

    The warm-up keeps short runs from averaging in their random start: after 8 steps
    the starting point weighs under 1 %, as it does after 90 steps at 0.95.
    """
    return min(decay, (1 + step) / (10 + step))


class ParamAverage:
    """An exponential moving average of a module's parameters.

    Example:
        >>> p = nn.Linear(1, 1, bias=False)
        >>> _ = nn.init.zeros_(p.weight)
        >>> avg = ParamAverage(p, 0.5)
        >>> _ = nn.init.ones_(p.weight)
        >>> avg.update(step=100)   # past the warm-up: the average moves half way
        >>> avg.copy_to_params()
        >>> p.weight.detach().item()
        0.5
    """

    def __init__(self, module: nn.Module, decay: float) -> None:
        self.decay = decay
        self.averages = [p.detach().clone() for p in module.parameters()]
        self._params = list(module.parameters())

    @torch.no_grad()
    def update(self, step: int) -> None:
        """Move the averages toward the current parameters (call after each optimizer step)."""
        weight = 1.0 - average_decay(self.decay, step)
        for avg, p in zip(self.averages, self._params):
            avg.lerp_(p.detach(), weight)

    @torch.no_grad()
    def copy_to_params(self) -> None:
        """Write the averages into the module's parameters (at the end of the run)."""
        for p, avg in zip(self._params, self.averages):
            p.copy_(avg)
