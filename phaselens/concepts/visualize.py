"""MACO images of concepts: the direction of each concept vector at its layer, many classes at once.

CRAFT visualizes concept c of a bank by feature visualization of the direction W[c] at the split
layer (the `direction` objective with a cosine power of 2, as in Xplique's notebook). All concepts of
all banks go into batches of `batch` images, one `visualize` call each (B images × K crops in one
forward pass), so 1000 classes × 10 concepts on a GPU is 10 000 / B calls, not 10 000. Each image's
seed comes from (seed, class, concept), so an image never depends on its batch or batch-mates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..config import RunConfig
from ..objectives import direction
from ..render import Result, visualize
from ..rng import derived_seed
from .bank import ConceptBank

COSSIM_POW = 2.0


@dataclass
class ConceptImages:
    """The MACO images of one bank's concepts.

    Attributes:
        images, transparency: (R, C, H, W), concept c in row c.
        scores: (R,) each image's final objective. seeds: the seed of each image.
    """

    images: torch.Tensor
    transparency: torch.Tensor
    scores: list[float]
    seeds: list[int]


def concept_seed(seed: int, class_id: int | None, concept: int) -> int:
    """The seed of concept `concept` of class `class_id` (the same in any batch)."""
    return derived_seed(seed, f"concept:{class_id}", concept)


def visualize_concepts(
    model: nn.Module,
    banks: Sequence[ConceptBank],
    config: RunConfig | None = None,
    *,
    seed: int = 0,
    batch: int = 64,
    cossim_pow: float = COSSIM_POW,
    progress: bool = False,
    **overrides: Any,
) -> list[ConceptImages]:
    """A MACO image of every concept of every bank, in batched `visualize` calls.

    Args:
        model: the model the banks were extracted from.
        banks: concept banks (any classes; banks of different layers go into different batches).
        config, overrides: optimization settings (`RunConfig`), as for `visualize`.
        seed: base seed. batch: images per `visualize` call.
        cossim_pow: the direction objective's cosine power.

    Returns:
        One `ConceptImages` per bank, in order.
    """
    jobs = [(b, c) for b, bank in enumerate(banks) for c in range(bank.rank)]
    by_layer: dict[str, list[tuple[int, int]]] = {}
    for b, c in jobs:
        by_layer.setdefault(banks[b].layer, []).append((b, c))
    made: dict[tuple[int, int], tuple[torch.Tensor, torch.Tensor, float, int]] = {}
    for layer, items in by_layer.items():
        for start in range(0, len(items), batch):
            chunk = items[start : start + batch]
            vectors = torch.stack([banks[b].W[c].float().cpu() for b, c in chunk])
            seeds = [concept_seed(seed, banks[b].class_id, c) for b, c in chunk]
            result: Result = visualize(
                model,
                direction(layer, vectors, cossim_pow=cossim_pow),
                config,
                seed=seeds,
                batch=len(chunk),
                progress=progress,
                **overrides,
            )
            for i, key in enumerate(chunk):
                made[key] = (result.images[i], result.transparency[i], result.final_scores[i], seeds[i])
    out = []
    for b, bank in enumerate(banks):
        rows = [made[(b, c)] for c in range(bank.rank)]
        out.append(
            ConceptImages(
                torch.stack([r[0] for r in rows]),
                torch.stack([r[1] for r in rows]),
                [r[2] for r in rows],
                [r[3] for r in rows],
            )
        )
    return out
