"""Finding layers by dotted name and capturing their outputs during a forward pass.

Objectives name layers of the network by their dotted module names
(``layer4.1.conv2``, ``blocks.6``). Only the layers an objective needs are
hooked, and when the logits are not needed the forward pass stops as soon as
every needed layer has produced its output.
"""

from __future__ import annotations

import dataclasses
import difflib
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from ..errors import PhaseLensError


def first_tensor(out: Any) -> torch.Tensor:
    """The tensor a module output stands for: itself, `.logits`, or the first tensor inside."""
    if isinstance(out, torch.Tensor):
        return out
    logits = getattr(out, "logits", None)
    if isinstance(logits, torch.Tensor):
        return logits
    if isinstance(out, dict):
        items = list(out.values())
    elif dataclasses.is_dataclass(out):
        items = [getattr(out, f.name) for f in dataclasses.fields(out)]
    elif isinstance(out, (tuple, list)):
        items = list(out)
    else:
        items = []
    for item in items:
        if item is None:
            continue
        try:
            return first_tensor(item)
        except PhaseLensError:
            continue
    raise PhaseLensError(f"module output of type {type(out).__name__} holds no tensor")


def layer_names(net: nn.Module) -> list[str]:
    """Every addressable dotted module name, in definition order (the root excluded)."""
    return [name for name, _ in net.named_modules() if name]


def get_layer(net: nn.Module, name: str) -> nn.Module:
    """The submodule called `name`, or an error listing the closest valid names."""
    modules = dict(net.named_modules())
    if name in modules and name:
        return modules[name]
    names = [n for n in modules if n]
    close = difflib.get_close_matches(name, names, n=5, cutoff=0.5)
    if not close:
        close = [n for n in names if name.split(".")[-1] in n][:5]
    hint = f"; closest: {', '.join(close)}" if close else ""
    raise PhaseLensError(
        f"no layer named {name!r} in {type(net).__name__}{hint} (list them all with `phaselens layers`)"
    )


class StopForward(Exception):
    """Raised from a hook to end a forward pass early: everything needed is captured."""


class Capture:
    """Run `model(x)` and collect the outputs of the named layers of `net`.

    Args:
        net: the network whose dotted names are used.
        names: layers to capture.
        need_output: if False, stop the forward pass once all layers are captured.
    """

    def __init__(self, net: nn.Module, names: Iterable[str], need_output: bool = True) -> None:
        self.names = list(dict.fromkeys(names))
        self.modules = {n: get_layer(net, n) for n in self.names}
        self.need_output = need_output or not self.names
        self.outputs: dict[str, torch.Tensor] = {}

    def _hook(self, name: str):
        def hook(_module, _inputs, out):
            if name not in self.outputs:
                self.outputs[name] = first_tensor(out)
            if not self.need_output and len(self.outputs) == len(self.names):
                raise StopForward

        return hook

    def __call__(self, model: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
        """Forward `x`; returns the model's output tensor, or None if stopped early."""
        self.outputs = {}
        handles = [m.register_forward_hook(self._hook(n)) for n, m in self.modules.items()]
        try:
            return first_tensor(model(x))
        except StopForward:
            return None
        finally:
            for h in handles:
                h.remove()
