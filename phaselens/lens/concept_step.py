"""The concepts step of a lens run: `run_lens(..., concepts=...)` options checked and planned.

The job (`phaselens.concepts.run.plan_concepts`) is planned before the lens writes anything, so that
bad concept options are refused at once; `run_lens` makes it after the targets.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..concepts.run import ConceptJob, plan_concepts
from ..config import RunConfig
from ..errors import PhaseLensError
from ..model import ImageModel
from .plan import Target

CONCEPT_OPTIONS = ("layer", "rank", "per_class", "on", "method", "group", "top_k")


def concept_job_of(
    im: ImageModel,
    plan: list[Target],
    concepts: bool | Mapping[str, Any],
    images: str | Path | None,
    cfg: RunConfig,
    seed: int,
) -> ConceptJob | None:
    """The checked concepts job of a lens run (`plan_concepts`), or None without concepts."""
    if not concepts:
        return None
    options = dict(concepts) if isinstance(concepts, Mapping) else {}
    unknown = sorted(set(options) - set(CONCEPT_OPTIONS))
    if unknown:
        raise PhaseLensError(f"unknown concept options {unknown}; valid: {', '.join(CONCEPT_OPTIONS)}")
    if any(t.kind != "class" for t in plan):
        raise PhaseLensError(f"concepts are extracted per class: --concepts needs class targets, not {plan[0].key}")
    spec = "class:" + ",".join(str(t.index) for t in plan)
    return plan_concepts(im, spec, images=images, config=cfg, seed=seed, skip_short=True, **options)
