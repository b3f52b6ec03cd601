"""What a lens run makes: the list of targets, their seeds, and their objectives.

A target is one class, channel or neuron. Its folder name and its seeds come
from what it *is* (its key, e.g. ``class:3``), never from its position in a
batch or in the list, so batching, sharding and resuming cannot change an image.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..concepts.split import split_model
from ..errors import PhaseLensError
from ..model import ImageModel
from ..objectives import Objective, channel, diversity, logit, neuron
from ..rng import derived_seed
from ..targets import parse_targets


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
    """A seed from (base seed, target key, facet): the same wherever and whenever the target runs
    (`phaselens.rng.derived_seed`)."""
    return derived_seed(base, key, facet)


def expand_targets(spec: str | int | Sequence[int], model: ImageModel) -> list[Target]:
    """Every target a spec names, in order, without duplicates.

    `spec` is a target spec string (see `phaselens.targets.parse_targets`) or class indices.
    """
    if isinstance(spec, int) or (not isinstance(spec, str) and isinstance(spec, Sequence)):
        values = [spec] if isinstance(spec, int) else list(spec)
        if not values or not all(isinstance(v, int) and not isinstance(v, bool) for v in values):
            raise PhaseLensError(f"targets must be a spec string or class indices, got {spec!r}")
        spec = "class:" + ",".join(str(v) for v in values)
    if not isinstance(spec, str):
        raise PhaseLensError(f"targets must be a spec string or class indices, got {spec!r}")
    parsed = parse_targets(spec, model)
    kind, layer = parsed.kind, parsed.layer
    return [
        Target(name, f"{kind}:{i}" if layer is None else f"{kind}:{layer}:{i}", label, kind, i, layer)
        for i, name, label in zip(parsed.indices, parsed.names, parsed.labels)
    ]


def objective_for(targets: Sequence[Target]) -> Objective:
    """One objective scoring image i against ``targets[i]`` (all of one kind and layer)."""
    kinds = {(t.kind, t.layer) for t in targets}
    if len(kinds) != 1:
        raise PhaseLensError(f"one batch must hold one kind of target, got {sorted(map(str, kinds))}")
    kind, layer = kinds.pop()
    layer = layer or ""
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


def objective_stop(target: Target) -> tuple[str, ...]:
    """The layers after which a forward pass for `target` may stop (none for class targets)."""
    obj = objective_for([target])
    return () if obj.needs_logits else obj.layers


def facet_diversity(
    im: ImageModel, plan: list[Target], facets: int, weight: float, layer: str | None
) -> Objective | None:
    """The diversity term of the facets of each target, or None (no weight, or one facet)."""
    if not weight or facets < 2:
        return None
    if plan[0].kind != "class" and layer is None:
        layer = plan[0].layer
    return diversity(layer or split_model(im).layer, weight, group=facets)
