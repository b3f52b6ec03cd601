"""Transferability: is a visualization of class k, made on model A, classified as k by model B?"""

from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from .model import as_image_model, model_device_dtype
from .render import frozen


def classify(model: nn.Module, images: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """Top-1 class of each whole image, resized (antialiased) to the model's input size.

    Shape:
        - images: (N, C, H, W) in [0, 1]
        - output: (N,) long
    """
    im = as_image_model(model)
    device, dtype = model_device_dtype(im)
    preds = []
    with frozen(im), torch.no_grad():
        for chunk in images.split(batch):
            x = F.interpolate(chunk.float(), size=im.input_size, mode="bilinear", antialias=True)
            if x.shape[1] != im.channels:
                x = x.mean(dim=1, keepdim=True).expand(-1, im.channels, -1, -1)
            preds.append(im(x.to(device, dtype)).argmax(dim=1).cpu())
    return torch.cat(preds)


def transfer_rate(evaluator: nn.Module, images: torch.Tensor, targets: Sequence[int]) -> float:
    """Fraction of images the evaluator classifies as their target class."""
    preds = classify(evaluator, images)
    return float((preds == torch.as_tensor(list(targets))).float().mean())
