"""Penultimate features of any classifier: the input of its classification layer.

The classification layer is found by running the model once and taking the
last `nn.Linear` called whose output has as many units as the logits. That
finds ``head`` in the zoo nets, ``fc`` in ResNets, ``head`` / ``head.fc`` in timm
ViTs and ConvNeXts, ``classifier`` in HF models, without a per-model table.
A layer can also be named explicitly.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import PhaseLensError
from ..features import dry_run, get_layer
from ..model import as_image_model, frozen, model_device_dtype


def find_head(model: nn.Module) -> str:
    """Dotted name (in ``model.net``) of the last Linear called whose output width is the logit count."""
    im = as_image_model(model)
    names = {m: n for n, m in im.net.named_modules()}
    calls: list[tuple[str, int]] = []

    def hook(module, args, output):
        calls.append((names[module], output.shape[-1]))

    logits = dry_run(im, [(m, "post", hook) for m in names if isinstance(m, nn.Linear)], fill=0.5)
    if not isinstance(logits, torch.Tensor) or logits.ndim != 2:
        raise PhaseLensError(f"{im.name}: expected (N, classes) logits to find the classifier layer")
    heads = [n for n, width in calls if width == logits.shape[1]]
    if not heads:
        raise PhaseLensError(
            f"{im.name}: no nn.Linear produces the {logits.shape[1]} logits; name the feature layer explicitly"
        )
    return heads[-1]


def features(model: nn.Module, images: torch.Tensor, layer: str | None = None, batch: int = 64) -> torch.Tensor:
    """Penultimate features of whole images, resized (antialiased) to the model's input, as `classify` does.

    Args:
        model: a classifier (`ImageModel` or any module `as_image_model` wraps).
        images: in [0, 1].
        layer: the module whose *input* is the feature; default `find_head`.
        batch: images per forward pass.

    Shape:
        - images: (N, C, H, W)
        - output: (N, D) float32 on the CPU; token or spatial inputs are averaged to D.
    """
    im = as_image_model(model)
    module = get_layer(im.net, layer or find_head(im))
    device, dtype = model_device_dtype(im)
    grabbed: list[torch.Tensor] = []

    def hook(mod, args):
        x = args[0]
        grabbed.append(x.flatten(1, -2).mean(1) if x.ndim > 2 else x)

    out = []
    handle = module.register_forward_pre_hook(hook)
    try:
        with frozen(im), torch.no_grad():
            for chunk in images.split(batch):
                x = F.interpolate(chunk.float(), size=im.input_size, mode="bilinear", antialias=True)
                if x.shape[1] != im.channels:
                    x = x.mean(dim=1, keepdim=True).expand(-1, im.channels, -1, -1)
                grabbed.clear()
                im(x.to(device, dtype))
                if not grabbed:
                    raise PhaseLensError(f"{im.name}: layer {layer!r} was not called in the forward pass")
                out.append(grabbed[-1].float().cpu())
    finally:
        handle.remove()
    return torch.cat(out)
