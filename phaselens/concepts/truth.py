"""Scores of concepts: fidelity of the importances, and ground truth where parts are known.

`class_scores` computes, for one class, the extraction metrics (from the bank), the importance
fidelity (C-Deletion / C-Insertion areas, C-μFidelity) and, for images with part masks
(`phaselens.data.parts`), which concept is which part. `ground_truth` pools the classes into the
``ground_truth`` scores of ``metrics.json`` (defined in docs/concepts.md), which `write_metrics` writes
for a whole concepts folder, with the links between classes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..data import DISTRACTOR, PART_CLASSES
from ..io import atomic_write_json, read_json
from ..util import versions
from .bank import ConceptBank
from .folder import MANIFEST, class_dir
from .importance import Importance
from .metrics import assign, deletion_insertion, mu_fidelity, part_iou, ranks_first, recovery, share_of
from .relations import Link, links, stability
from .split import Split


def decoder(split: Split, bank: ConceptBank, images: torch.Tensor, class_id: int):
    """(coefficients u of the images, u ↦ class logit of the reconstruction h(u W))."""
    acts = split.activations(images)
    u = bank.transform(acts.maps)

    def decode(v: torch.Tensor) -> torch.Tensor:
        return split.h(acts.with_maps(bank.reconstruct(v)))[:, class_id]

    return u, decode


def class_scores(
    split: Split,
    bank: ConceptBank,
    imp: Importance,
    images: torch.Tensor,
    maps: torch.Tensor | None = None,
    masks: Sequence[Mapping[str, torch.Tensor]] | None = None,
    parts: Sequence[str] = (),
    seed: int = 0,
) -> dict[str, Any]:
    """Metrics of one class: extraction, importance fidelity, and (with masks) its concepts' parts.

    Args:
        maps: (N, R, H, W) concept maps of `images` (needed with masks).
        masks: per image, part name -> (H, W) mask. parts: the class's defining parts.
    """
    u, decode = decoder(split, bank, images, imp.class_id)
    curves = deletion_insertion(decode, u, imp.order())
    gi = imp.per_image if imp.method == "gradient_input" else None
    out: dict[str, Any] = dict(
        error=bank.metrics.get("error"),
        sparsity=bank.metrics.get("sparsity"),
        deletion_auc=curves["deletion_auc"],
        insertion_auc=curves["insertion_auc"],
        mu_fidelity=mu_fidelity(decode, u, gi if gi is not None else imp.per_image, seed=seed),
    )
    if masks is not None and maps is not None:
        names = sorted({k for m in masks for k in m})
        stacked = {
            k: torch.stack([m.get(k, torch.zeros(maps.shape[-2:], dtype=torch.bool)) for m in masks]) for k in names
        }
        names, iou = part_iou(maps, stacked)
        score, found = recovery(iou, names, list(parts))
        owners = assign(iou, names)
        complete = len(found) == len(parts)
        relaxed, strict = ranks_first(imp.mean.numpy(), found, owners) if complete else (False, False)
        out.update(
            parts=list(parts),
            recovered=found,
            recovery=score,
            owners=owners,
            iou=np.round(iou, 4).tolist(),
            part_names=names,
            importance_truth=relaxed,
            importance_truth_strict=strict,
            distractor_share=share_of(imp.share.numpy(), owners, DISTRACTOR),
        )
    return out


def half_stability(W1: torch.Tensor, W2: torch.Tensor) -> float:
    """Agreement of two banks fitted on the two halves of a class's images (`relations.stability`)."""
    return stability(W1, W2)


def ground_truth(per_class: Mapping[int, Mapping[str, Any]], links: Sequence[Link]) -> dict[str, Any]:
    """The pooled ground-truth scores of ``metrics.json`` from the classes' `class_scores`."""
    scored = {c: s for c, s in per_class.items() if "recovery" in s}
    if not scored:
        return {}
    defining = sum(len(s["parts"]) for s in scored.values())
    recovered = sum(len(s["recovered"]) for s in scored.values())
    shared = {p for p, classes in PART_CLASSES.items() if len(classes) > 1}
    good = 0
    for link in links:
        a, b = scored.get(link.cls), scored.get(link.other)
        if a is None or b is None:
            continue
        pa, pb = a["owners"][link.concept], b["owners"][link.other_concept]
        good += int(pa is not None and pa == pb and pa in shared)
    stabilities = [s["stability"] for s in scored.values() if s.get("stability") is not None]
    return dict(
        recovery=recovered / max(defining, 1),
        importance_truth=float(np.mean([s["importance_truth"] for s in scored.values()])),
        importance_truth_strict=float(np.mean([s.get("importance_truth_strict", False) for s in scored.values()])),
        distractor_share=float(np.mean([s["distractor_share"] for s in scored.values()])),
        link_precision=(good / len(links)) if links else None,
        links=len(links),
        stability=float(np.mean(stabilities)) if stabilities else None,
        classes=len(scored),
    )


LINK_THRESHOLD = 0.8
MEAN_KEYS = ("error", "sparsity", "deletion_auc", "insertion_auc", "mu_fidelity")


def write_metrics(out: Path, classes: Sequence[int], names: dict[int, str]) -> dict[str, Any]:
    """Links across every complete class, then metrics.json (with ground truth where masks are known)."""
    done = [c for c in classes if (class_dir(out, names[c]) / MANIFEST).is_file()]
    banks = {c: ConceptBank.load(class_dir(out, names[c]) / "bank.safetensors") for c in done}
    found = links([banks[c].W for c in done], done, threshold=LINK_THRESHOLD)
    atomic_write_json(out / "links.json", [vars(k) for k in found])
    per_class = {c: dict((read_json(class_dir(out, names[c]) / MANIFEST) or {}).get("scores", {})) for c in done}
    metrics = dict(
        classes={names[c]: v for c, v in per_class.items()},
        mean={k: float(np.mean([v[k] for v in per_class.values()])) for k in MEAN_KEYS} if per_class else {},
        links=len(found),
        ground_truth=ground_truth(per_class, found),
        versions=versions(),
    )
    atomic_write_json(out / "metrics.json", metrics)
    return metrics
