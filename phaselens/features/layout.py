"""How each layer lays out its output, found by one dry run of the model.

Objectives read every layer output as (N, C, H, W) maps (`phaselens.features.spatial`).
From a shape alone that is a guess: a Swin stage gives (N, H, W, C), a CNN
(N, C, H, W), and the two can only be told apart by shape when C differs from
H and W; a ViT block gives (N, T, C) tokens where T counts prefix tokens (CLS,
distillation, registers) that must be left out of the patch grid. So before a
run, the model is run once on one image with hooks on every module, and each
output is classified:

- 4-D: channels first or last. Decided first by what the model declares (a
  timm ``feature_info`` entry's ``num_chs`` for that module, when it matches
  exactly one of the two axes), then by the module type when it says
  (convolutions, batch norms and pools are channels-first; linear layers and
  layer norms act on the last axis), else the same as the tensor it returned
  unchanged, the same-shaped input it was given (activations, residual blocks),
  or the last same-shaped output of a module inside it (stages, blocks).
- 3-D: tokens; the prefix is the net's ``num_prefix_tokens`` when the rest
  fills a patch grid of the input's aspect, else the smallest count that does.
- 3-D or 4-D with a first axis other than the batch (windows of a Swin block,
  patches of a MobileViT block): not readable per image.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import PhaseLensError
from ..model import ImageModel, as_image_model
from .capture import StopForward, first_tensor
from .probe import Hook, dry_run

MAX_PREFIX = 8  # CLS + distillation + registers never exceed this in known models


@dataclass(frozen=True)
class Layout:
    """How one layer's output is laid out.

    Attributes:
        kind: ``"nchw"``, ``"nhwc"``, ``"tokens"`` (N, T, C), ``"vector"`` (N, C),
            or ``"unsupported"`` (its first axis is not the batch).
        prefix_tokens: for tokens, how many come before the patches.
        grid: for tokens, the (H, W) patch grid, when the patches fill one.
        note: for unsupported layers, why.
    """

    kind: str
    prefix_tokens: int = 0
    grid: tuple[int, int] | None = None
    note: str = ""


_CHANNELS_FIRST = (
    nn.Conv2d,
    nn.ConvTranspose2d,
    nn.modules.batchnorm._BatchNorm,
    nn.GroupNorm,
    nn.InstanceNorm2d,
    nn.MaxPool2d,
    nn.AvgPool2d,
    nn.AdaptiveAvgPool2d,
    nn.AdaptiveMaxPool2d,
    nn.Upsample,
    nn.PixelShuffle,
    nn.PixelUnshuffle,
    nn.LocalResponseNorm,
)


def _type_rule(module: nn.Module, shape: tuple[int, ...]) -> str | None:
    """Layout of a 4-D output implied by the module type, or None when it does not say."""
    if isinstance(module, _CHANNELS_FIRST):
        return "nchw"
    if isinstance(module, nn.Linear):
        return "nhwc"  # a linear layer acts on the last axis
    if isinstance(module, nn.LayerNorm) and len(module.normalized_shape) == 1:
        c = module.normalized_shape[0]
        first, last = shape[1] == c, shape[-1] == c
        if last and not first:
            return "nhwc"
        if first and not last:
            return "nchw"  # a channels-first variant (timm's LayerNorm2d)
        return "nchw" if "2d" in type(module).__name__.lower() else "nhwc"
    fmt = str(getattr(module, "output_fmt", "") or "").upper()  # timm modules declare it
    if "NHWC" in fmt:
        return "nhwc"
    if "NCHW" in fmt:
        return "nchw"
    return None


def _shape_rule(shape: tuple[int, ...]) -> str:
    """The guess from shape alone: a square H x W ahead of a different C means channels last."""
    return "nhwc" if shape[1] == shape[2] != shape[3] else "nchw"


def _grid(patches: int, size: tuple[int, int]) -> tuple[int, int] | None:
    """The (h, w) grid of `patches` cells with the aspect of the input `size`, if there is one."""
    if patches <= 0:
        return None
    h_in, w_in = size
    w = max(1, round(math.sqrt(patches * w_in / h_in)))
    for ww in (w - 1, w, w + 1):
        if ww >= 1 and patches % ww == 0 and (patches // ww) * w_in == ww * h_in:
            return patches // ww, ww
    return None


def token_layout(tokens: int, size: tuple[int, int], hint: int | None = None) -> Layout:
    """Prefix and grid of a (N, T, C) output with T = `tokens`, for an input of `size` (H, W)."""
    candidates = ([hint] if hint is not None else []) + list(range(MAX_PREFIX + 1))
    for p in candidates:
        grid = _grid(tokens - p, size)
        if grid is not None:
            return Layout("tokens", p, grid)
    return Layout("tokens", hint or 0, None)


def prefix_tokens(net: nn.Module) -> int | None:
    """The prefix tokens (CLS, registers) a net declares (timm's ``num_prefix_tokens``), else None."""
    value = getattr(net, "num_prefix_tokens", None)
    return int(value) if isinstance(value, int) else None


def declared_channels(net: nn.Module) -> dict[str, int]:
    """Channel counts the net declares per module (timm's ``feature_info``: module -> ``num_chs``)."""
    info = getattr(net, "feature_info", None)
    entries = getattr(info, "info", info)  # timm's FeatureInfo wraps a list of dicts
    out: dict[str, int] = {}
    if isinstance(entries, (list, tuple)):
        for entry in entries:
            if (
                isinstance(entry, dict)
                and isinstance(entry.get("module"), str)
                and isinstance(entry.get("num_chs"), int)
            ):
                out[entry["module"]] = entry["num_chs"]
    return out


def _declared_rule(channels: int | None, shape: tuple[int, ...]) -> str | None:
    """Layout of a 4-D output from a declared channel count, when it fits exactly one axis."""
    if channels is None:
        return None
    first, last = shape[1] == channels, shape[3] == channels
    if first != last:
        return "nchw" if first else "nhwc"
    return None


class _Tracer:
    """Hooks that classify every module output during one forward pass."""

    def __init__(self, net: nn.Module, size: tuple[int, int], wanted: set[str] | None) -> None:
        self.size = size
        self.wanted = wanted
        self.hint = prefix_tokens(net)
        self.declared = declared_channels(net)
        self.known: dict[int, tuple[torch.Tensor, str]] = {}  # id -> (tensor kept alive, layout)
        self.history: list[tuple[tuple[int, ...], str]] = []  # 4-D outputs in completion order
        self.starts: dict[str, list[int]] = {}
        self.layouts: dict[str, Layout] = {}

    def mark(self, t: torch.Tensor, layout: str) -> None:
        self.known[id(t)] = (t, layout)

    def pre(self, name: str):
        def hook(_m, _inputs):
            self.starts.setdefault(name, []).append(len(self.history))

        return hook

    def post(self, name: str):
        def hook(module, inputs, out):
            start = self.starts[name].pop() if self.starts.get(name) else len(self.history)
            try:
                t = first_tensor(out)
            except PhaseLensError:
                return
            if name in self.layouts or not t.is_floating_point():
                return
            self.layouts[name] = self.classify(name, module, inputs, t, start)
            if self.wanted is not None and self.wanted.issubset(self.layouts):
                raise StopForward

        return hook

    def classify(self, name: str, module: nn.Module, inputs, t: torch.Tensor, start: int) -> Layout:
        shape = tuple(t.shape)
        if t.ndim >= 2 and shape[0] != 1:
            return Layout(
                "unsupported",
                note=f"its output {shape[1:]} has {shape[0]} rows per image "
                "(windows or patches folded into the batch); use the block that contains it",
            )
        if t.ndim == 2:
            return Layout("vector")
        if t.ndim == 3:
            return token_layout(shape[1], self.size, self.hint)
        if t.ndim != 4:
            return Layout("unsupported", note=f"its output has {t.ndim - 1} dimensions per image")
        kind = _declared_rule(self.declared.get(name), shape)
        if kind is None:
            kind = self.known[id(t)][1] if id(t) in self.known else _type_rule(module, shape)
        if kind is None:
            kind = next(
                (
                    self.known[id(x)][1]
                    for x in inputs
                    if isinstance(x, torch.Tensor) and id(x) in self.known and tuple(x.shape) == shape
                ),
                None,
            )
        if kind is None:
            kind = next((k for s, k in reversed(self.history[start:]) if s == shape), None)
        kind = kind or _shape_rule(shape)
        self.mark(t, kind)
        self.history.append((shape, kind))
        return Layout(kind)


def detect_layouts(model: nn.Module, names: Iterable[str] | None = None) -> dict[str, Layout]:
    """The `Layout` of each named layer of ``model.net`` (all layers when `names` is None).

    One `dry_run` with hooks on every module; it stops once the named layers are classified.
    """
    im = as_image_model(model)
    net = im.net
    wanted = None if names is None else set(names) & {n for n, _ in net.named_modules() if n}
    if wanted == set():
        return {}
    tracer = _Tracer(net, im.input_size, wanted)

    def mark_input(_module, inputs) -> None:  # the images the net gets are channels-first
        for x in inputs:
            if isinstance(x, torch.Tensor):
                tracer.mark(x, "nchw")

    hooks: list[Hook] = [(net, "pre", mark_input)]
    for name, module in net.named_modules():
        if name:
            hooks += [(module, "pre", tracer.pre(name)), (module, "post", tracer.post(name))]
    dry_run(im, hooks)
    return dict(tracer.layouts) if names is None else {n: tracer.layouts[n] for n in names if n in tracer.layouts}


def cached_layouts(model: ImageModel, names: Iterable[str]) -> dict[str, Layout]:
    """`detect_layouts` for `names`, remembered on the model per input size.

    A model that cannot be dry-run here (it fails on one image) gets no hints,
    so objectives fall back to reading shapes; the real run reports the failure.
    """
    names = list(names)
    key = (tuple(model.input_size), model.channels)
    cache = model.__dict__.setdefault("_phaselens_layouts", {}).setdefault(key, {"tried": set(), "found": {}})
    todo = [n for n in names if n not in cache["tried"]]
    if todo:
        try:
            cache["found"].update(detect_layouts(model, todo))
        except PhaseLensError:
            raise
        except Exception:  # noqa: BLE001 - hints are optional: a model that fails here fails in the real run
            pass
        cache["tried"].update(todo)
    return {n: cache["found"][n] for n in names if n in cache["found"]}
