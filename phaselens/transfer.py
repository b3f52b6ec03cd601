"""Transferability: is a visualization of class k, made on model A, classified as k by model B?"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .errors import PhaseLensError
from .model import as_image_model, frozen, model_device_dtype


def center_view(images: torch.Tensor, view: float) -> torch.Tensor:
    """The centred crop covering ``view`` of each side (1.0: the whole image).

    Shape:
        - images: (N, C, H, W); output: (N, C, round(H * view), round(W * view))
    """
    if not 0.0 < view <= 1.0:
        raise PhaseLensError(f"view must be in (0, 1] (the fraction of each side to keep), got {view}")
    h, w = images.shape[-2:]
    ch, cw = max(1, round(h * view)), max(1, round(w * view))
    top, left = (h - ch) // 2, (w - cw) // 2
    return images[..., top : top + ch, left : left + cw]


def optimization_view(crop_size: tuple[float, float]) -> float:
    """The mean crop side of a run: the scale at which its model saw the image.

    A visualization optimized through crops of ``crop_size`` shows its features
    at that scale; the whole image shrunk to a model's input shows them smaller.
    """
    lo, hi = crop_size
    return min(1.0, (lo + hi) / 2)


def classify(model: nn.Module, images: torch.Tensor, batch: int = 64, view: float = 1.0) -> torch.Tensor:
    """Top-1 class of each image, resized (antialiased) to the model's input size.

    Args:
        view: the fraction of each side the model sees, centred (1.0: the
            whole image; `optimization_view(crop_size)`: the scale of the run).

    Shape:
        - images: (N, C, H, W) in [0, 1]
        - output: (N,) long
    """
    im = as_image_model(model)
    device, dtype = model_device_dtype(im)
    images = center_view(images, view)
    preds = []
    with frozen(im), torch.no_grad():
        for chunk in images.split(batch):
            x = F.interpolate(chunk.float(), size=im.input_size, mode="bilinear", antialias=True)
            if x.shape[1] != im.channels:
                x = x.mean(dim=1, keepdim=True).expand(-1, im.channels, -1, -1)
            preds.append(im(x.to(device, dtype)).argmax(dim=1).cpu())
    return torch.cat(preds)


def transfer_rate(evaluator: nn.Module, images: torch.Tensor, targets: Sequence[int], view: float = 1.0) -> float:
    """Fraction of images the evaluator classifies as their target class (seeing ``view`` of each side)."""
    preds = classify(evaluator, images, view=view)
    return float((preds == torch.as_tensor(list(targets))).float().mean())
