"""Shared steps of every source: overriding preprocessing, freezing, naming."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ..errors import PhaseLensError
from ..model import ImageModel, Preprocess


def parse_size(value) -> tuple[int, int] | None:
    """An input size from an int, (H, W), or text ``"224"``, ``"224,192"``, ``"224x192"``."""
    if value is None:
        return None
    if isinstance(value, str):
        parts = [p for p in value.lower().replace("x", ",").split(",") if p.strip()]
        try:
            value = [int(p) for p in parts]
        except ValueError:
            raise PhaseLensError(f"bad input size {value!r}; write N, H,W or HxW") from None
    if isinstance(value, int):
        value = (value, value)
    value = tuple(int(v) for v in value)
    if len(value) == 1:
        value = value * 2
    if len(value) != 2 or min(value) < 1:
        raise PhaseLensError(f"bad input size {value!r}; give one or two positive sides")
    return value


def parse_floats(value, what: str) -> tuple[float, ...] | None:
    """Per-channel values from a number, a sequence, or text ``"0.5,0.5,0.5"``."""
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return (float(value),)
    if isinstance(value, str):
        value = [v for v in value.split(",") if v.strip()]
    try:
        out = tuple(float(v) for v in value)
    except (TypeError, ValueError):
        raise PhaseLensError(f"bad {what} {value!r}; write comma-separated numbers, e.g. 0.5,0.5,0.5") from None
    if not out:
        raise PhaseLensError(f"empty {what}")
    return out


def override(
    model: ImageModel,
    mean=None,
    std=None,
    input_size=None,
    channels: int | None = None,
) -> ImageModel:
    """`model` with the given preprocessing values replacing the ones read from its source."""
    mean, std = parse_floats(mean, "mean"), parse_floats(std, "std")
    size = parse_size(input_size)
    if mean is None and std is None and size is None and channels is None:
        return model
    pre = model.preprocess
    chans = int(channels or pre.channels)
    if std is not None and any(s <= 0 for s in std):
        raise PhaseLensError(f"std must be positive, got {std}")
    changed = [k for k, v in (("mean", mean), ("std", std), ("input size", size), ("channels", channels)) if v]
    new = Preprocess(
        mean=mean or (pre.mean if chans == pre.channels else pre.mean[:1]),
        std=std or (pre.std if chans == pre.channels else pre.std[:1]),
        input_size=size or pre.input_size,
        channels=chans,
        source=f"{pre.source}, {', '.join(changed)} given",
    )
    return ImageModel(model.net, new, model.class_names, model.name).train(model.training)


def finish(net: nn.Module, pre: Preprocess, names: Sequence[str] | None, label: str) -> ImageModel:
    """Wrap a loaded net: eval mode, frozen weights, class names kept only if they fit its output."""
    net.eval()
    for p in net.parameters():  # per parameter: ScriptModules have no requires_grad_()
        p.requires_grad_(False)
    return ImageModel(net, pre, list(names) if names else None, label).eval()


def names_for(count: int | None, names: Sequence[str] | None) -> list[str] | None:
    """`names` when there is one per class, else None (a head retrained for other classes)."""
    if names and count == len(names):
        return list(names)
    return None
