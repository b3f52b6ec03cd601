"""What a lens run makes: the list of targets, their seeds, and their objectives.

A target is one class, channel or neuron. Its folder name and its seeds come
from what it *is* (its key, e.g. ``class:3``), never from its position in a
batch or in the list, so batching, sharding and resuming cannot change an image.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Sequence

import torch

from ..errors import PhaseLensError
from ..model import ImageModel
from ..objectives import Objective, channel, logit, neuron, spatial
from ..targets import SYNTAX, _indices, parse_targets


@dataclass(frozen=True)
class Target:
    """One thing to visualize.

    Attributes:
        name: folder name under ``targets/``, e.g. ``class_0003_red_disc``.
        key: stable identity, e.g. ``class:3`` or ``channel:layer2:17``; seeds derive from it.
        label: readable name (a class name may hold any characters).
        kind: ``class``, ``channel`` or ``neuron``.
        index: class or channel index.
        layer: layer name for channels and neurons, else None.
    """

    name: str
    key: str
    label: str
    kind: str
    index: int
    layer: str | None = None


def target_seed(base: int, key: str, facet: int = 0) -> int:
    """A seed from (base seed, target key, facet): the same wherever and whenever the target runs.

    53 bits, so the seed survives JSON readers that hold numbers as doubles (the site's JavaScript).
    """
    digest = hashlib.blake2b(f"{int(base)}|{key}|{int(facet)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & (2**53 - 1)


def _probe(model: ImageModel, layer: str | None) -> torch.Tensor:
    """One forward pass of a random image: the logits, or `layer`'s maps as (1, C, H, W)."""
    from ..layers import Capture
    from ..model import model_device_dtype

    device, dtype = model_device_dtype(model)
    x = torch.rand(1, model.channels, *model.input_size, device=device, dtype=dtype)
    capture = Capture(model.net, [layer] if layer else [], need_output=layer is None)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = capture(model, x)
    finally:
        model.train(was_training)
    if layer is None:
        return out
    return spatial(capture.outputs[layer], prefix_tokens=getattr(model.net, "num_prefix_tokens", None))


def num_classes(model: ImageModel) -> int:
    """The number of classes: the class names when given, else the width of the model output."""
    if model.class_names:
        return len(model.class_names)
    out = _probe(model, None)
    if out is None or out.ndim != 2:
        raise PhaseLensError("cannot count the classes: the model output is not (N, classes); give class indices")
    return int(out.shape[1])


def expand_targets(spec: str | int | Sequence[int], model: ImageModel) -> list[Target]:
    """Every target a spec names, in order, without duplicates.

    `spec` is a target spec string (``class:all``, ``class:0-9``, ``class:NAME``,
    ``channel:LAYER:0-63``, ``channel:LAYER:all``, ``neuron:LAYER:5``) or class indices.
    """
    if isinstance(spec, int) or (not isinstance(spec, str) and isinstance(spec, Sequence)):
        values = [spec] if isinstance(spec, int) else list(spec)
        if not values or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise PhaseLensError(f"targets must be a spec string or class indices, got {spec!r}")
        spec = "class:" + ",".join(str(v) for v in values)
    if not isinstance(spec, str):
        raise PhaseLensError(f"targets must be a spec string or class indices, got {spec!r}")
    spec = spec.strip()
    kind, _, rest = spec.partition(":")
    if kind == "class" and rest:
        n = num_classes(model)
        parsed = parse_targets(spec, model, num_classes=n)
        if rest == "all" or re.fullmatch(r"[\d,\s-]+", rest):
            idx = _indices(rest, n, "class")
        else:
            idx = [model.class_index(rest)]
        layer = None
    elif kind in ("channel", "neuron") and rest.count(":") >= 1:
        layer, _, chans = rest.rpartition(":")
        if chans.strip() == "all":
            from ..layers import get_layer

            get_layer(model.net, layer)
            count = int(_probe(model, layer).shape[1])
            chans = f"0-{count - 1}"
            spec = f"{kind}:{layer}:{chans}"
        parsed = parse_targets(spec, model)
        idx = _indices(chans, None, kind)
    else:
        raise PhaseLensError(f"unknown target {spec!r}; valid: {SYNTAX} | channel:LAYER:all")
    out: dict[str, Target] = {}
    for i, name, label in zip(idx, parsed.names, parsed.labels):
        key = f"{kind}:{i}" if layer is None else f"{kind}:{layer}:{i}"
        out.setdefault(key, Target(name, key, label, kind, i, layer))
    return list(out.values())


def objective_for(targets: Sequence[Target]) -> Objective:
    """One objective scoring image i against ``targets[i]`` (all of one kind and layer)."""
    kinds = {(t.kind, t.layer) for t in targets}
    if len(kinds) != 1:
        raise PhaseLensError(f"one batch must hold one kind of target, got {sorted(map(str, kinds))}")
    kind, layer = kinds.pop()
    idx = [t.index for t in targets]
    if kind == "class":
        return logit(idx)
    if kind == "channel":
        return channel(layer, idx)
    return neuron(layer, idx)


def chunks(items: Sequence, size: int) -> list[list]:
    """`items` cut into consecutive lists of at most `size`."""
    if size < 1:
        raise PhaseLensError(f"batch must be >= 1, got {size}")
    return [list(items[i : i + size]) for i in range(0, len(items), size)]
