"""The model adapter: a network plus the preprocessing it expects.

PhaseLens optimizes images in [0, 1] pixel space. `ImageModel` carries the
model's own normalization (mean, std), input size and channel count, so no
value range is ever hand-tuned per model. Layer names used by objectives are
the dotted module names of the wrapped network (`model.net`).
"""

from __future__ import annotations

import contextlib
import difflib
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from .errors import PhaseLensError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MIN_STD = 1e-5  # models that take 0-255 input use std 1/255: well above this
MAX_INPUT_SIDE = 16384


@dataclass
class Preprocess:
    """What a model expects of its input, before normalization happens.

    Attributes:
        mean, std: per-channel normalization applied to [0, 1] images.
        input_size: (H, W) the model is run at.
        channels: 3 for RGB, 1 for grayscale.
    """

    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    input_size: tuple[int, int] = (224, 224)
    channels: int = 3
    source: str = "default"

    def __post_init__(self) -> None:
        self.mean = tuple(float(m) for m in self.mean)
        self.std = tuple(float(s) for s in self.std)
        if isinstance(self.input_size, int):
            self.input_size = (self.input_size, self.input_size)
        h, w = (int(s) for s in self.input_size)
        self.input_size = (h, w)
        if len(self.mean) == 1 and self.channels > 1:
            self.mean = self.mean * self.channels
        if len(self.std) == 1 and self.channels > 1:
            self.std = self.std * self.channels
        if len(self.mean) != self.channels or len(self.std) != self.channels:
            raise PhaseLensError(
                f"mean {self.mean} and std {self.std} must have one value per channel ({self.channels})"
            )
        if not all(math.isfinite(m) for m in self.mean):
            raise PhaseLensError(f"normalization mean must be finite numbers, got {self.mean}")
        if not all(math.isfinite(v) and v >= MIN_STD for v in self.std):
            raise PhaseLensError(
                f"normalization std must be finite numbers >= {MIN_STD:g} (smaller ones blow the input up "
                f"to non-finite values), got {self.std}"
            )
        if min(h, w) < 1 or max(h, w) > MAX_INPUT_SIDE:
            raise PhaseLensError(f"input size must be 1..{MAX_INPUT_SIDE} pixels per side, got {h}x{w}")


class ImageModel(nn.Module):
    """A classifier that takes [0, 1] images and normalizes them itself.

    Args:
        net: the network, called on normalized images.
        preprocess: normalization, input size and channels of `net`.
        class_names: optional names, index `k` naming logit `k`.
        name: a short label for manifests (e.g. ``"timm:resnet18"``).
        defaults: settings its maker recommends for PhaseLens's tools, used where an option is not
            given (as the preprocessing is), e.g. ``{"concepts.on": "positions"}`` for zoo:parts.

    Shape:
        - Input: (N, C, H, W) in [0, 1], H x W = ``preprocess.input_size``.
        - Output: whatever `net` returns (logits (N, classes) for classifiers).

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        >>> m = ImageModel(net, Preprocess(input_size=(32, 32)))
        >>> m(torch.rand(2, 3, 32, 32)).shape
        torch.Size([2, 4])
    """

    def __init__(
        self,
        net: nn.Module,
        preprocess: Preprocess | None = None,
        class_names: Sequence[str] | None = None,
        name: str = "",
        defaults: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        self.net = net
        self.defaults = dict(defaults or {})
        self.preprocess = preprocess or Preprocess()
        self.class_names = list(class_names) if class_names is not None else None
        self.name = name or type(net).__name__
        c = self.preprocess.channels
        # On the net's device, so a net moved to the GPU before wrapping needs no copy per call.
        device = next(net.parameters(), torch.empty(0)).device
        mean, std = (
            torch.tensor(v, device=device).view(1, c, 1, 1) for v in (self.preprocess.mean, self.preprocess.std)
        )
        self._mean: torch.Tensor
        self._std: torch.Tensor
        self.register_buffer("_mean", mean, persistent=False)
        self.register_buffer("_std", std, persistent=False)

    @property
    def input_size(self) -> tuple[int, int]:
        return self.preprocess.input_size

    @property
    def channels(self) -> int:
        return self.preprocess.channels

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        # .to(x) is free when device and dtype match; it covers a net moved after wrapping by hand.
        return (x - self._mean.to(x)) / self._std.to(x)

    def forward(self, x: torch.Tensor):
        return self.net(self.normalize(x))

    def class_index(self, label: str | int) -> int:
        """Resolve a class id or (case-insensitive) class name to an index."""
        if isinstance(label, int) or str(label).lstrip("-").isdigit():
            return int(label)
        names = self.class_names or []
        lowered = [n.lower() for n in names]
        key = str(label).strip().lower()
        if key in lowered:
            return lowered.index(key)
        matches = [n for n in names if key in n.lower()]
        if len(matches) == 1:
            return names.index(matches[0])
        close = difflib.get_close_matches(key, lowered, n=5)
        hint = f"; did you mean {', '.join(repr(names[lowered.index(c)]) for c in close)}?" if close else ""
        if not names:
            raise PhaseLensError(f"class {label!r}: this model has no class names, give an index instead")
        raise PhaseLensError(f"unknown class {label!r}{hint}")


def _timm_preprocess(module: nn.Module) -> Preprocess | None:
    cfg = getattr(module, "pretrained_cfg", None) or getattr(module, "default_cfg", None)
    if not isinstance(cfg, dict) or "mean" not in cfg:
        return None
    size = cfg.get("input_size", (3, 224, 224))
    chans = int(size[0]) if len(size) == 3 else 3
    return Preprocess(cfg["mean"], cfg["std"], tuple(size[-2:]), chans, source="timm pretrained_cfg")


def as_image_model(model: nn.Module) -> ImageModel:
    """Wrap any module as an `ImageModel`, reading its preprocessing when it has one.

    An `ImageModel` is returned as is. A timm model's ``pretrained_cfg`` gives
    mean, std and input size. Otherwise the identity normalization is used
    (the module receives [0, 1] images) at 224 x 224, and the channel count is
    read from the first convolution or linear layer.
    """
    if isinstance(model, ImageModel):
        return model
    pre = _timm_preprocess(model)
    if pre is None:
        chans = _first_input_channels(model)
        pre = Preprocess((0.0,) * chans, (1.0,) * chans, (224, 224), chans, source="identity")
    return ImageModel(model, pre)


def _first_input_channels(model: nn.Module) -> int:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return int(m.in_channels)
    return 3


def model_device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    """The device and floating dtype of the model's first parameter (CPU float32 if none)."""
    for p in model.parameters():
        if p.is_floating_point():
            return p.device, p.dtype
    return torch.device("cpu"), torch.float32


@contextlib.contextmanager
def frozen(model: nn.Module) -> Iterator[nn.Module]:
    """Eval mode and no weight gradients inside; the model's own flags restored after."""
    was_training = model.training
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        model.train(was_training)
