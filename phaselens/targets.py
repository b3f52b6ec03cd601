"""Target specs for the CLI: ``class:3``, ``class:0-9``, ``class:all``, ``class:red_disc``,
``channel:LAYER:12``, ``channel:LAYER:0-7``, ``channel:LAYER:all``, ``neuron:LAYER:12``, each giving
one image per target."""

from __future__ import annotations

import re
from dataclasses import dataclass

import torch

from .errors import PhaseLensError
from .features import LayerReader, get_layer, model_output, probe_image
from .model import ImageModel, frozen
from .objectives import Objective, channel, logit, neuron
from .util import slug

SYNTAX = (
    "class:K | class:A-B | class:all | class:NAME | channel:LAYER:C | channel:LAYER:A-B | channel:LAYER:all"
    " | neuron:LAYER:C"
)


@dataclass
class TargetSet:
    """Parsed target spec: an objective with one target per image.

    Attributes:
        objective: scores image i against target i.
        names: a file-safe name per target (``class_0003_yellow_star``).
        labels: a readable label per target (a class name may hold any characters).
        kind: ``class``, ``channel`` or ``neuron``.
        indices: the class or channel index of each target.
        layer: the layer of channel and neuron targets, else None.
    """

    objective: Objective
    names: list[str]
    labels: list[str]
    kind: str
    indices: list[int]
    layer: str | None = None


def _channel_count(model: ImageModel, layer: str) -> int:
    """Channels of `layer`, read as objectives read it (its detected layout), from one probe image."""
    reader = LayerReader(model, [layer], need_logits=False)
    with frozen(model), torch.no_grad():
        reader(probe_image(model))
    return int(reader.maps(layer).shape[1])


def num_classes(model: ImageModel) -> int:
    """The number of classes: the class names when given, else the width of the model output."""
    if model.class_names:
        return len(model.class_names)
    out = model_output(model, fill=None)
    if out.ndim != 2:
        raise PhaseLensError("cannot count the classes: the model output is not (N, classes); give class indices")
    return int(out.shape[1])


def _indices(text: str, upper: int, what: str, context: str) -> list[int]:
    """Indices of `text` (``K``, ``A-B``, ``all`` or a comma list of those), each checked against
    `upper` before any list is built, so a huge range is refused rather than allocated."""
    text = text.strip()
    if text == "all":
        return list(range(upper))
    m = re.fullmatch(r"(\d+)(?:-(\d+))?", text)
    if m:
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) else lo
        if hi < lo:
            raise PhaseLensError(f"empty range {text!r}: write A-B with A <= B")
        if hi >= upper:
            raise PhaseLensError(f"{what} {hi} is out of range: {context} (valid 0..{upper - 1})")
        return list(range(lo, hi + 1))
    out = []
    for part in text.split(","):
        if not re.fullmatch(r"\d+(-\d+)?", part.strip()):
            raise PhaseLensError(f"bad index {part!r} in {text!r}; expected K, A-B, or all")
        out += _indices(part, upper, what, context)
    return out


def parse_targets(spec: str, model: ImageModel) -> TargetSet:
    """Turn a target spec into a `TargetSet` for `model`; errors say the valid syntax.

    Class indices are checked against the model's class count (its class names, or
    its output width); ``channel:LAYER:all`` counts the layer's channels with one
    forward pass.
    """
    kind, _, rest = spec.strip().partition(":")
    names = model.class_names or []
    if kind == "class" and rest:
        n_classes = num_classes(model)
        if rest == "all" or re.fullmatch(r"[\d,\s-]+", rest):
            idx = _indices(rest, n_classes, "class", f"the model has {n_classes} classes")
        else:
            idx = [model.class_index(rest)]
        idx = list(dict.fromkeys(idx))
        labels = [names[i] if i < len(names) else f"class {i}" for i in idx]
        files = [f"class_{i:04d}" + (f"_{slug(names[i])}" if i < len(names) else "") for i in idx]
        return TargetSet(logit(idx), files, labels, "class", idx)
    if kind in ("channel", "neuron") and rest.count(":") >= 1:
        layer, _, chans = rest.rpartition(":")
        get_layer(model.net, layer)
        count = _channel_count(model, layer)
        idx = list(dict.fromkeys(_indices(chans, count, "channel", f"layer {layer} has {count} channels")))
        obj = channel(layer, idx) if kind == "channel" else neuron(layer, idx)
        files = [f"{kind}_{slug(layer)}_{c:04d}" for c in idx]
        labels = [f"{kind} {layer}:{c}" for c in idx]
        return TargetSet(obj, files, labels, kind, idx, layer)
    raise PhaseLensError(f"unknown target {spec!r}; valid: {SYNTAX}")
