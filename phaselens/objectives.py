"""Objectives: what a visualization maximizes, one score per crop.

An objective maps the captured activations of N = B x K crops (B images, K
crops each) to N scores; the optimizer averages them over each image's crops.
Targets may be lists: ``logit([3, 7, 9])`` scores image i against class
``[3, 7, 9][i]``, so one batch carries several targets. Objectives combine with
``+ - * /`` (with numbers or with each other) and describe themselves.

Objectives read layers through a `phaselens.features.Context`, which gives every
layer output as (N, C, H, W) maps (see `phaselens.features.reader`): a *channel*
is the mean of one feature over all spatial positions / patch tokens, and a
*neuron* is one feature at one position / patch. `diversity` scores images against each
other (their Gram matrices), for facets that differ.

Every objective lives here, with the algebra, so that a reader finds them in one file; it runs
a few lines over 300 rather than splitting them up.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from .errors import PhaseLensError
from .features import Context

Targets = int | Sequence[int]

__all__ = ["Context", "Objective", "Targets", "as_objective", "channel", "direction", "diversity", "logit", "neuron"]


class _Const:
    """A constant kept on the CPU (for range checks) and copied to each device once:
    a fresh CPU -> GPU copy at every step would make the host wait for the GPU."""

    def __init__(self, values: torch.Tensor) -> None:
        self.cpu = values
        self._copies: dict[tuple, torch.Tensor] = {}

    def on(self, device: torch.device, dtype: torch.dtype | None = None) -> torch.Tensor:
        key = (device, dtype)
        if key not in self._copies:
            self._copies[key] = self.cpu.to(device=device, dtype=dtype or self.cpu.dtype)
        return self._copies[key]


def _check_index(index: torch.Tensor, size: int, what: str, owner: str) -> None:
    """E.g. "channel 70 is out of range: layer conv1 has 64 channels (valid 0..63)"."""
    if index.numel() and (int(index.min()) < 0 or int(index.max()) >= size):
        bad = next(int(i) for i in index if not 0 <= int(i) < size)
        plural = "classes" if what == "class" else f"{what}s"
        raise PhaseLensError(f"{what} {bad} is out of range: {owner} has {size} {plural} (valid 0..{size - 1})")


def _as_index(targets: Targets) -> torch.Tensor:
    values = [targets] if isinstance(targets, int) else list(targets)
    if not values or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        raise PhaseLensError(f"targets must be an int or a non-empty list of ints, got {targets!r}")
    return torch.tensor(values, dtype=torch.long)


def _fmt(targets: Targets) -> str:
    return str(targets) if isinstance(targets, int) else ",".join(str(t) for t in targets)


class Objective:
    """A score per crop, with `+ - * /` algebra.

    Args:
        fn: maps a `Context` to N scores.
        description: readable form, e.g. ``"logit[3]"``.
        layers: layer names `fn` reads.
        needs_logits: whether `fn` reads the model output.
        batch: number of targets (1 = same target for every image).

    Example:
        >>> obj = 2 * logit(3) - channel("layer1", 5)
        >>> obj.description
        '2 * logit[3] - channel(layer1, 5)'
    """

    def __init__(
        self,
        fn: Callable[[Context], torch.Tensor],
        description: str,
        layers: Sequence[str] = (),
        needs_logits: bool = False,
        batch: int = 1,
    ) -> None:
        self.fn = fn
        self.description = description
        self.layers = tuple(dict.fromkeys(layers))
        self.needs_logits = needs_logits
        self.batch = batch

    def __call__(self, ctx: Context) -> torch.Tensor:
        return self.fn(ctx)

    def __repr__(self) -> str:
        return f"Objective({self.description})"

    def _combine(self, other, op: Callable, symbol: str, swap: bool = False) -> Objective:
        if isinstance(other, (int, float)):
            value = float(other)
            if not math.isfinite(value) or (symbol == "/" and not swap and value == 0):
                raise PhaseLensError(
                    f"cannot {_VERB[symbol]} an objective {'by' if symbol in '*/' else 'and'} {value!r}: "
                    "the objective would not be finite; use a finite, non-zero number"
                )
            desc = (
                f"{_num(value)} {symbol} {self._wrapped(symbol)}"
                if swap
                else f"{self._wrapped(symbol)} {symbol} {_num(value)}"
            )
            fn = (lambda ctx: op(value, self(ctx))) if swap else (lambda ctx: op(self(ctx), value))
            return Objective(fn, desc, self.layers, self.needs_logits, self.batch)
        if not isinstance(other, Objective):
            return NotImplemented
        if self.batch > 1 and other.batch > 1 and self.batch != other.batch:
            raise PhaseLensError(f"cannot combine objectives with {self.batch} and {other.batch} targets")
        desc = f"{self._wrapped(symbol)} {symbol} {other._wrapped(symbol, right=True)}"
        return Objective(
            lambda ctx: op(self(ctx), other(ctx)),
            desc,
            self.layers + other.layers,
            self.needs_logits or other.needs_logits,
            max(self.batch, other.batch),
        )

    def _wrapped(self, symbol: str, right: bool = False) -> str:
        d = self.description
        loose = (" + " in d or " - " in d) and not (d.startswith("(") and d.endswith(")"))
        if loose and (symbol in "*/" or (right and symbol == "-")):
            return f"({d})"
        return d

    def __add__(self, o):
        return self._combine(o, lambda a, b: a + b, "+")

    def __radd__(self, o):
        return self._combine(o, lambda a, b: a + b, "+", swap=True)

    def __sub__(self, o):
        return self._combine(o, lambda a, b: a - b, "-")

    def __rsub__(self, o):
        return self._combine(o, lambda a, b: a - b, "-", swap=True)

    def __mul__(self, o):
        return self._combine(o, lambda a, b: a * b, "*")

    def __rmul__(self, o):
        return self._combine(o, lambda a, b: a * b, "*", swap=True)

    def __truediv__(self, o):
        return self._combine(o, lambda a, b: a / b, "/")

    def __rtruediv__(self, o):
        return self._combine(o, lambda a, b: a / b, "/", swap=True)

    def __neg__(self):
        return Objective(lambda ctx: -self(ctx), f"-{self._wrapped('*')}", self.layers, self.needs_logits, self.batch)


_VERB = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide"}


def _num(v: float) -> str:
    return str(int(v)) if v.is_integer() else f"{v:g}"


def logit(targets: Targets) -> Objective:
    """The pre-softmax score of class `targets` (an int, or one per image)."""
    idx = _as_index(targets)
    const = _Const(idx)

    def fn(ctx: Context) -> torch.Tensor:
        out = ctx.logits
        if out is None:
            raise PhaseLensError("logit needs the model output, but the forward pass stopped early")
        if out.ndim != 2:
            raise PhaseLensError(f"logit needs a (N, classes) model output, got shape {tuple(out.shape)}")
        _check_index(idx, out.shape[1], "class", "the model")
        rows = ctx.per_crop(const.on(out.device), "logit")
        return out.gather(1, rows[:, None])[:, 0]

    return Objective(fn, f"logit[{_fmt(targets)}]", needs_logits=True, batch=len(idx))


def _feature_maps(ctx: Context, layer: str, layout: str, prefix: int | None, channels: _Const, what: str):
    maps = ctx.maps(layer, layout, prefix)
    _check_index(channels.cpu, maps.shape[1], "channel", f"layer {layer}")
    rows = ctx.per_crop(channels.on(maps.device), what)
    picked = maps.gather(1, rows.view(-1, 1, 1, 1).expand(-1, 1, *maps.shape[2:]))[:, 0]
    return picked  # (N, H, W)


def channel(layer: str, c: Targets, layout: str = "auto", prefix_tokens: int | None = None) -> Objective:
    """Mean activation of channel `c` of `layer` over all positions (patch tokens for ViTs)."""
    idx = _as_index(c)
    const = _Const(idx)

    def fn(ctx: Context) -> torch.Tensor:
        return _feature_maps(ctx, layer, layout, prefix_tokens, const, "channel").mean(dim=(1, 2))

    return Objective(fn, f"channel({layer}, {_fmt(c)})", layers=[layer], batch=len(idx))


def neuron(
    layer: str,
    c: Targets,
    x: int | None = None,
    y: int | None = None,
    layout: str = "auto",
    prefix_tokens: int | None = None,
) -> Objective:
    """Channel `c` of `layer` at one position (x, y) of its map or patch grid; the centre by default."""
    idx = _as_index(c)
    const = _Const(idx)

    def fn(ctx: Context) -> torch.Tensor:
        maps = _feature_maps(ctx, layer, layout, prefix_tokens, const, "neuron")
        h, w = maps.shape[1:]
        xx = w // 2 if x is None else x
        yy = h // 2 if y is None else y
        if not (0 <= xx < w and 0 <= yy < h):
            raise PhaseLensError(f"neuron position (x={xx}, y={yy}) is outside layer {layer}'s {w} x {h} grid")
        return maps[:, yy, xx]

    where = "" if x is None and y is None else f", x={x}, y={y}"
    return Objective(fn, f"neuron({layer}, {_fmt(c)}{where})", layers=[layer], batch=len(idx))


def direction(
    layer: str,
    vector: torch.Tensor | Sequence[float],
    cossim_pow: float = 0.0,
    layout: str = "auto",
    prefix_tokens: int | None = None,
) -> Objective:
    """Alignment of `layer`'s features with a direction v, averaged over positions.

    Per position: <a, v> * max(cos(a, v), 0.1) ** cossim_pow (the plain dot product for
    ``cossim_pow=0``); the power favours features pointing along v rather than just large.
    `vector` is (C,) for every image or (B, C), one direction per image.
    """
    v = torch.as_tensor(vector, dtype=torch.float32)
    if v.ndim == 1:
        v = v[None]
    if v.ndim != 2:
        raise PhaseLensError(f"direction vector must be (C,) or (B, C), got shape {tuple(v.shape)}")
    const = _Const(v)

    def fn(ctx: Context) -> torch.Tensor:
        maps = ctx.maps(layer, layout, prefix_tokens)
        if v.shape[1] != maps.shape[1]:
            raise PhaseLensError(f"direction has {v.shape[1]} values but layer {layer} has {maps.shape[1]} channels")
        dirs = ctx.per_crop(const.on(maps.device, maps.dtype), "direction")[:, :, None, None]
        dot = (maps * dirs).sum(dim=1)
        if cossim_pow:
            cos = F.cosine_similarity(maps, dirs, dim=1, eps=1e-8).clamp_min(0.1)
            dot = dot * cos.pow(cossim_pow)
        return dot.mean(dim=(1, 2))

    pw = f", cossim_pow={cossim_pow:g}" if cossim_pow else ""
    return Objective(fn, f"direction({layer}{pw})", layers=[layer], batch=v.shape[0])


def diversity(
    layer: str, weight: float = 1.0, group: int | None = None, layout: str = "auto", prefix_tokens: int | None = None
) -> Objective:
    """Pushes the images of one target apart (Olah et al. 2017; Lucid's ``diversity``).

    Each image's Gram matrix of `layer`'s channels (over positions, averaged over its crops) is
    compared by cosine with those of the other images of its group; the score is minus `weight`
    times the mean similarity, so adding it to an objective trades a little of it for images that
    differ in style. Groups are `group` consecutive images (the facets of one target, as `run_lens`
    orders them); None: the whole batch is one group. An image alone in its group scores 0.

    Example:
        >>> obj = logit([3, 3, 3]) + diversity("layer2", 0.5)
        >>> obj.description
        'logit[3,3,3] + diversity(layer2, 0.5)'
    """
    w = float(weight)
    if not math.isfinite(w) or w < 0:
        raise PhaseLensError(f"diversity weight must be a finite number >= 0, got {weight!r}")
    if group is not None and (isinstance(group, bool) or not isinstance(group, int) or group < 1):
        raise PhaseLensError(f"diversity group must be a whole number >= 1 (images per target), got {group!r}")

    def fn(ctx: Context) -> torch.Tensor:
        maps = ctx.maps(layer, layout, prefix_tokens).float()  # (N, C, H, W)
        flat = maps.flatten(2)
        gram = (flat @ flat.transpose(1, 2) / flat.shape[2]).view(ctx.batch, ctx.crops, -1).mean(dim=1)
        unit = F.normalize(gram, dim=1)
        sim = unit @ unit.T  # (B, B)
        ids = torch.arange(ctx.batch, device=maps.device) // (group or ctx.batch)
        same = (ids[:, None] == ids[None, :]) & ~torch.eye(ctx.batch, dtype=torch.bool, device=maps.device)
        mean = (sim * same).sum(dim=1) / same.sum(dim=1).clamp_min(1)
        return (-w * mean).repeat_interleave(ctx.crops).to(maps.dtype)

    size = "" if group is None else f", group={group}"
    return Objective(fn, f"diversity({layer}, {_num(w)}{size})", layers=[layer])


def as_objective(obj: Objective | Targets) -> Objective:
    """Objectives pass through; an int or list of ints means `logit(...)`."""
    if isinstance(obj, Objective):
        return obj
    try:
        return logit(obj)
    except PhaseLensError:
        raise PhaseLensError(f"expected an Objective or class indices, got {obj!r}") from None
