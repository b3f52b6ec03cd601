"""The one throwaway forward pass ("dry run") that tells what a model's layers output.

Listing layers, detecting layouts, counting classes or channels and finding the
classifier all need the same thing: one image through the frozen model, without
gradients, with some hooks on. `dry_run` is that pass; the others are built on it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from ..errors import PhaseLensError
from ..model import ImageModel, as_image_model, frozen, model_device_dtype
from .capture import StopForward, first_tensor

Hook = tuple[nn.Module, Literal["pre", "post"], Callable[..., Any]]


def probe_image(model: ImageModel, fill: float | None = None) -> torch.Tensor:
    """One image at the model's input size, on its device: uniform random, or `fill` everywhere.

    Shape:
        - output: (1, C, H, W) in [0, 1]
    """
    device, dtype = model_device_dtype(model)
    shape = (1, model.channels, *model.input_size)
    if fill is None:
        return torch.rand(shape, device=device, dtype=dtype)
    return torch.full(shape, fill, device=device, dtype=dtype)


def dry_run(model: nn.Module, hooks: Iterable[Hook] = (), fill: float | None = None) -> Any:
    """Run one probe image through the frozen model with `hooks` registered, then remove them.

    Args:
        model: an `ImageModel` or any module `as_image_model` wraps.
        hooks: ``(module, "pre" | "post", fn)``: forward pre-hooks and forward hooks.
            A hook may raise `StopForward` to end the pass once it has what it needs.
        fill: the probe image's constant value; None for a random image.

    Returns:
        The model's raw output, or None when a hook stopped the pass.
    """
    im = as_image_model(model)
    handles = []
    try:
        for module, kind, fn in hooks:
            register = module.register_forward_pre_hook if kind == "pre" else module.register_forward_hook
            handles.append(register(fn))
        with frozen(im), torch.no_grad():
            return im(probe_image(im, fill))
    except StopForward:
        return None
    finally:
        for h in handles:
            h.remove()


def model_output(model: nn.Module, fill: float | None = 0.5) -> torch.Tensor:
    """The model's output tensor for one grey probe image (e.g. (1, classes) logits)."""
    return first_tensor(dry_run(model, fill=fill))


def layer_outputs(model: nn.Module, names: Iterable[str] | None = None) -> dict[str, torch.Tensor]:
    """The first tensor each named module of ``model.net`` outputs for one probe image.

    `names` default to every module; modules that are not called, or output no tensor, are absent.
    """
    im = as_image_model(model)
    modules = dict(im.net.named_modules())
    wanted = [n for n in modules if n] if names is None else list(names)
    outputs: dict[str, torch.Tensor] = {}

    def grab(name: str) -> Callable[..., None]:
        def hook(_module: nn.Module, _inputs: Any, out: Any) -> None:
            if name not in outputs:
                with contextlib.suppress(PhaseLensError):  # outputs without a tensor are left out
                    outputs[name] = first_tensor(out)

        return hook

    dry_run(im, [(modules[n], "post", grab(n)) for n in wanted if n in modules])
    return outputs


@dataclass
class LayerInfo:
    """One addressable layer: dotted name, module type, output shape for one image (None if not run)."""

    name: str
    type: str
    shape: tuple[int, ...] | None


def list_layers(model: nn.Module) -> list[LayerInfo]:
    """Every addressable layer of ``model.net`` with its type and output shape (one dry run).

    Example:
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        >>> [(r.name, r.type, r.shape) for r in list_layers(net)][:2]
        [('0', 'Conv2d', (4, 222, 222)), ('1', 'ReLU', (4, 222, 222))]
    """
    im = as_image_model(model)
    named = [(n, m) for n, m in im.net.named_modules() if n]
    outputs = layer_outputs(im)
    return [LayerInfo(n, type(m).__name__, tuple(outputs[n].shape[1:]) if n in outputs else None) for n, m in named]
