"""Target specs for the CLI: ``class:3``, ``class:0-9``, ``class:all``, ``class:red_disc``,
``channel:LAYER:12``, ``channel:LAYER:0-7``, ``neuron:LAYER:12``, each giving one image per target."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import PhaseLensError
from .layers import get_layer
from .model import ImageModel
from .objectives import Objective, channel, logit, neuron

SYNTAX = "class:K | class:A-B | class:all | class:NAME | channel:LAYER:C | channel:LAYER:A-B | neuron:LAYER:C"


@dataclass
class TargetSet:
    """Parsed target spec: an objective with one target per image, and a file-safe name per image."""

    objective: Objective
    names: list[str]
    labels: list[str]
    kind: str


def _indices(text: str, upper: int | None, what: str) -> list[int]:
    text = text.strip()
    if text == "all":
        if upper is None:
            raise PhaseLensError(f"'{what}:all' needs a known count")
        return list(range(upper))
    m = re.fullmatch(r"(\d+)(?:-(\d+))?", text)
    if m:
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) else lo
        if hi < lo:
            raise PhaseLensError(f"empty range {text!r}: write A-B with A <= B")
        return list(range(lo, hi + 1))
    out = []
    for part in text.split(","):
        if not re.fullmatch(r"\d+(-\d+)?", part.strip()):
            raise PhaseLensError(f"bad index {part!r} in {text!r}; expected K, A-B, or all")
        out += _indices(part, upper, what)
    return out


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:60] or "x"


def parse_targets(spec: str, model: ImageModel, num_classes: int | None = None) -> TargetSet:
    """Turn a target spec into a `TargetSet` for `model`; errors say the valid syntax.

    `num_classes` bounds ``class:all`` (and class indices); it defaults to the
    number of class names the model carries.
    """
    kind, _, rest = spec.partition(":")
    names = model.class_names or []
    n_classes = num_classes if num_classes is not None else (len(names) or None)
    if kind == "class" and rest:
        if rest == "all" or re.fullmatch(r"[\d,\s-]+", rest):
            idx = _indices(rest, n_classes, "class")
        else:
            idx = [model.class_index(rest)]
        if n_classes is not None:
            bad = [i for i in idx if i >= n_classes]
            if bad:
                raise PhaseLensError(f"class {bad[0]} is out of range: the model has {n_classes} classes (0..{n_classes - 1})")
        labels = [names[i] if i < len(names) else f"class {i}" for i in idx]
        files = [f"class_{i:04d}" + (f"_{_safe(names[i])}" if i < len(names) else "") for i in idx]
        return TargetSet(logit(idx), files, labels, "class")
    if kind in ("channel", "neuron") and rest.count(":") >= 1:
        layer, _, chans = rest.rpartition(":")
        get_layer(model.net, layer)
        idx = _indices(chans, None, kind)
        obj = channel(layer, idx) if kind == "channel" else neuron(layer, idx)
        files = [f"{kind}_{_safe(layer)}_{c:04d}" for c in idx]
        labels = [f"{kind} {layer}:{c}" for c in idx]
        return TargetSet(obj, files, labels, kind)
    raise PhaseLensError(f"unknown target {spec!r}; valid: {SYNTAX}")
