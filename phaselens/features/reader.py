"""Reading layer outputs as (N, C, H, W) maps, the same way for every caller.

Layer outputs of any layout are read as (N, C, H, W):
- (N, C, H, W) CNN maps as they are; (N, H, W, C) when ``layout="nhwc"`` (or detected),
- (N, T, C) tokens: prefix tokens (CLS, registers) dropped, patches laid on their grid,
- (N, C) vectors as 1 x 1 maps.
So a *channel* is the mean of one feature over all spatial positions / patch tokens,
and a *neuron* is one feature at one position / patch.

`LayerReader` is the one way to run a model and read its layers: it hooks the
layers, knows their layouts from a dry run (`layout.cached_layouts`) and the
net's declared prefix tokens, and hands objectives a `Context`. The optimization
loop, `evaluate`, Lens's natural-image scores and target parsing all use it, so
they all see the same maps.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import torch

from ..errors import PhaseLensError
from ..model import ImageModel
from .capture import Capture
from .layout import Layout, cached_layouts, prefix_tokens


def _infer_prefix(tokens: int) -> int:
    """CLS/register tokens before a square patch grid: T - (largest square <= T) when small."""
    side = math.isqrt(tokens)
    extra = tokens - side * side
    return extra if extra <= 8 else 0


def spatial(t: torch.Tensor, layout: str | Layout = "auto", prefix_tokens: int | None = None) -> torch.Tensor:
    """Any layer output as a (N, C, H, W) map; see the module docstring for the rules.

    `layout` is ``"auto"``, ``"nchw"``, ``"nhwc"``, or a dry-run hint for this layer
    (a `Layout`: its kind, prefix tokens and patch grid); an explicit `prefix_tokens`
    overrides the hint's.

    Example:
        >>> spatial(torch.zeros(2, 1 + 16, 8)).shape   # CLS + a 4 x 4 patch grid
        torch.Size([2, 8, 4, 4])
    """
    grid = None
    if not isinstance(layout, str):
        if layout.kind == "unsupported":
            raise PhaseLensError(f"cannot read this layer as feature maps: {layout.note}")
        grid = layout.grid
        prefix_tokens = layout.prefix_tokens if prefix_tokens is None else prefix_tokens
        layout = layout.kind
    if t.ndim == 2:
        return t[:, :, None, None]
    if t.ndim == 3:  # (N, T, C) tokens
        n, tokens, c = t.shape
        p = _infer_prefix(tokens) if prefix_tokens is None else prefix_tokens
        patches = t[:, p:, :]
        if grid is not None and grid[0] * grid[1] == patches.shape[1]:
            return patches.transpose(1, 2).reshape(n, c, *grid)
        side = math.isqrt(patches.shape[1])
        if side * side == patches.shape[1]:
            return patches.transpose(1, 2).reshape(n, c, side, side)
        return patches.transpose(1, 2).reshape(n, c, 1, -1)
    if t.ndim == 4:
        if layout == "nhwc" or (layout == "auto" and t.shape[1] == t.shape[2] != t.shape[3]):
            return t.permute(0, 3, 1, 2)
        return t
    raise PhaseLensError(f"cannot read a layer output of shape {tuple(t.shape)} as feature maps")


@dataclass
class Context:
    """What an objective sees for one forward pass.

    Attributes:
        outputs: captured layer outputs by name, each with N = batch * crops rows.
        logits: the model output (N, classes), or None when the pass stopped early.
        batch: B images; crops: K crops per image.
        prefix_tokens: tokens before the patches in token outputs, or None to infer.
        layouts: per-layer `Layout` hints from a dry run, used in place of ``layout="auto"``.
    """

    outputs: dict[str, torch.Tensor]
    logits: torch.Tensor | None
    batch: int
    crops: int
    prefix_tokens: int | None = None
    layouts: dict[str, Layout] = field(default_factory=dict)

    def maps(self, layer: str, layout: str = "auto", prefix: int | None = None) -> torch.Tensor:
        """`layer`'s output as (N, C, H, W): its dry-run hint stands for "auto"; an explicit prefix wins."""
        hint = self.layouts.get(layer) if layout == "auto" else None
        if hint is not None:
            return spatial(self.outputs[layer], hint, prefix)
        return spatial(self.outputs[layer], layout, self.prefix_tokens if prefix is None else prefix)

    def per_crop(self, values: torch.Tensor, what: str) -> torch.Tensor:
        """Repeat per-image values (T, ...) with T in {1, B} to one row per crop (N, ...)."""
        t = values.shape[0]
        if t == 1:
            return values.expand(self.batch * self.crops, *values.shape[1:])
        if t != self.batch:
            raise PhaseLensError(f"{what} has {t} targets but the batch has {self.batch} images")
        return values.repeat_interleave(self.crops, dim=0)


class LayerReader:
    """Run a model and read the named layers of ``model.net`` with their detected layouts.

    Args:
        model: the `ImageModel` (its ``net`` supplies the layer names).
        layers: layers to capture.
        need_logits: False stops each pass once every layer is captured.

    Example:
        >>> from torch import nn
        >>> net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        >>> reader = LayerReader(ImageModel(net), ["0"], need_logits=False)
        >>> reader(torch.rand(2, 3, 224, 224)) is None, reader.maps("0").shape
        (True, torch.Size([2, 4, 222, 222]))
    """

    def __init__(self, model: ImageModel, layers: Iterable[str], need_logits: bool = True) -> None:
        self.model = model
        self.capture = Capture(model.net, layers, need_output=need_logits)
        self.layers = self.capture.names
        self.prefix = prefix_tokens(model.net)
        self.layouts = cached_layouts(model, self.layers) if self.layers else {}
        self.logits: torch.Tensor | None = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor | None:
        """Forward `x` (images in [0, 1]); returns the model output, or None when stopped early."""
        self.logits = self.capture(self.model, x)
        return self.logits

    @property
    def outputs(self) -> dict[str, torch.Tensor]:
        """The captured outputs of the last pass, by layer name."""
        return self.capture.outputs

    def context(self, batch: int, crops: int) -> Context:
        """The last pass as objectives see it: N = batch * crops rows."""
        return Context(self.capture.outputs, self.logits, batch, crops, self.prefix, self.layouts)

    def maps(self, layer: str) -> torch.Tensor:
        """`layer`'s output of the last pass as (N, C, H, W)."""
        return self.context(self.capture.outputs[layer].shape[0], 1).maps(layer)
