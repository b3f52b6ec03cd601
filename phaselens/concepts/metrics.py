"""Scores of concept extraction and importance: the holistic paper's metrics, and ground truth.

Importance fidelity (concepts play the part that pixels play in Deletion / Insertion / μFidelity):

- `deletion_insertion`: remove the concepts (coefficient set to 0) from most to least important and
  follow the class logit down (C-Deletion), or add them from none in the same order and follow it up
  (C-Insertion). Curves are normalized, 0 = all concepts removed, 1 = all present, and their areas
  (mean over the R+1 points) are reported: a low deletion area and a high insertion area mean the
  importances name the concepts the logit really depends on.
- `mu_fidelity`: over random subsets of concepts removed together, the Pearson correlation between the
  summed importance of the subset and the logit drop it causes (C-μFidelity).

Ground truth, for data whose images are made of known parts (`phaselens.data.parts`), with `maps` the
concept attribution maps and `masks` the parts' masks:

- `part_iou`: IoU of each concept's binarized map (at `MAP_THRESHOLD` of its per-image maximum) with each
  part's mask, pooled over the images where the part is present.
- `recovery`: the share of defining parts matched one-to-one (Hungarian on IoU) to a concept with IoU ≥ 0.5.
- `assign`: each concept's part (the one it overlaps most, if IoU ≥ 0.2, else none), for the importance
  share a part gets (`share_of`), and for checking that cross-class links join the same part.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch

from ..errors import PhaseLensError

RECOVERED = 0.5  # IoU at which a part counts as recovered by a concept
ASSIGNED = 0.2  # IoU below which a concept is assigned to no part
# A concept map is "on" where it reaches this fraction of its per-image maximum. Coefficient maps fall off
# slowly towards a part's edge (a cell that sees half the part holds about half its coefficient, and the
# bilinear upsampling spreads it), so half the maximum keeps only a part's core (docs/concepts.md, sweep).
MAP_THRESHOLD = 0.2


def _curve(values: list[torch.Tensor], full: torch.Tensor, empty: torch.Tensor) -> np.ndarray:
    """Mean over images of (value - empty) / (full - empty), per point."""
    span = (full - empty).where((full - empty).abs() > 1e-8, torch.ones_like(full))
    return np.array([float(((v - empty) / span).mean()) for v in values])


def deletion_insertion(
    decode: Callable[[torch.Tensor], torch.Tensor], u: torch.Tensor, order: torch.Tensor
) -> dict[str, object]:
    """C-Deletion and C-Insertion curves and areas.

    Args:
        decode: coefficients (N, ..., R) -> class logits (N,), e.g. u ↦ h(u W)[class].
        u: (N, ..., R) coefficients of N images (any positions in between).
        order: (R,) concepts from most to least important.

    Returns:
        ``deletion`` and ``insertion`` curves (R + 1 points each) and their areas
        ``deletion_auc``, ``insertion_auc``.
    """
    r = u.shape[-1]
    if sorted(order.tolist()) != list(range(r)):
        raise PhaseLensError(f"order must be a permutation of the {r} concepts")
    with torch.no_grad():
        full, empty = decode(u).float(), decode(torch.zeros_like(u)).float()
        keep = torch.ones(r, dtype=u.dtype, device=u.device)
        deleted, inserted = [full], [empty]
        for c in order.tolist():
            keep[c] = 0
            deleted.append(decode(u * keep).float())
            inserted.append(decode(u * (1 - keep)).float())
    dele, ins = _curve(deleted, full, empty), _curve(inserted, full, empty)
    return dict(
        deletion=dele.tolist(), insertion=ins.tolist(), deletion_auc=float(dele.mean()), insertion_auc=float(ins.mean())
    )


def mu_fidelity(
    decode: Callable[[torch.Tensor], torch.Tensor],
    u: torch.Tensor,
    per_image: torch.Tensor,
    subsets: int = 64,
    fraction: float = 0.3,
    seed: int = 0,
) -> float:
    """C-μFidelity: correlation of summed importance and logit drop over random concept subsets.

    Args:
        decode, u: as in `deletion_insertion`. per_image: (N, R) importances.
        subsets: random subsets per image; fraction: share of the concepts in each (at least one).
    """
    r = per_image.shape[1]
    gen = torch.Generator().manual_seed(seed)
    size = max(1, round(fraction * r))
    picks = torch.stack([torch.randperm(r, generator=gen)[:size] for _ in range(subsets)])
    keep = torch.ones(subsets, r, dtype=u.dtype)
    keep[torch.arange(subsets)[:, None], picks] = 0
    keep = keep.to(u.device)
    with torch.no_grad():
        full = decode(u).float()
        drops, sums = [], []
        for s in range(subsets):
            drops.append((full - decode(u * keep[s]).float()).cpu())
            sums.append((per_image.float().cpu() * (1 - keep[s].float().cpu())).sum(dim=1))
    x, y = torch.stack(sums).T.double(), torch.stack(drops).T.double()  # (N, subsets)
    x, y = x - x.mean(dim=1, keepdim=True), y - y.mean(dim=1, keepdim=True)
    den = (x.norm(dim=1) * y.norm(dim=1)).clamp_min(1e-12)
    return float(((x * y).sum(dim=1) / den).mean())


def binarize(maps: torch.Tensor, fraction: float = MAP_THRESHOLD) -> torch.Tensor:
    """(N, R, H, W) maps -> boolean masks where a map is at least `fraction` of its per-image maximum."""
    top = maps.flatten(2).amax(dim=2)[..., None, None]
    return (maps >= fraction * top) & (top > 0)


def part_iou(
    maps: torch.Tensor, masks: Mapping[str, torch.Tensor], fraction: float = MAP_THRESHOLD
) -> tuple[list[str], np.ndarray]:
    """IoU of every concept with every part, pooled over the images where the part is present.

    Args:
        maps: (N, R, H, W) concept attribution maps of N images.
        masks: part name -> (N, H, W) boolean masks (all False where the part is absent).
        fraction: where a map counts as on (`binarize`).

    Returns:
        (part names, (P, R) IoU).
    """
    on = binarize(maps.float(), fraction)
    names = list(masks)
    iou = np.zeros((len(names), maps.shape[1]))
    for p, name in enumerate(names):
        m = masks[name].bool().to(on.device)
        present = m.flatten(1).any(dim=1)
        if not bool(present.any()):
            continue
        a, b = on[present], m[present][:, None]
        inter = (a & b).flatten(2).sum(dim=(0, 2)).double()
        union = (a | b).flatten(2).sum(dim=(0, 2)).double().clamp_min(1)
        iou[p] = (inter / union).cpu().numpy()
    return names, iou


def recovery(iou: np.ndarray, names: Sequence[str], parts: Sequence[str]) -> tuple[float, dict[str, int]]:
    """The share of `parts` recovered one-to-one by a concept with IoU >= `RECOVERED`, and which concept."""
    try:
        from scipy.optimize import linear_sum_assignment
    except ImportError:
        raise PhaseLensError("ground-truth scores need scipy: pip install phaselens[concepts]") from None
    rows = [names.index(p) for p in parts]
    sub = iou[rows]
    r, c = linear_sum_assignment(-sub)
    found = {parts[i]: int(j) for i, j in zip(r, c) if sub[i, j] >= RECOVERED}
    return len(found) / max(len(parts), 1), found


def assign(iou: np.ndarray, names: Sequence[str]) -> list[str | None]:
    """Each concept's part: the one it overlaps most, or None below `ASSIGNED`."""
    best = iou.argmax(axis=0)
    return [names[int(b)] if iou[int(b), c] >= ASSIGNED else None for c, b in enumerate(best)]


def ranks_first(mean: np.ndarray, found: Mapping[str, int], owners: Sequence[str | None]) -> tuple[bool, bool]:
    """Are the concepts `found` for the defining parts the most important ones? (relaxed, strict).

    Strict: they are exactly the top ``len(found)`` concepts by `mean` importance. Relaxed: each is more
    important than every concept that belongs to no defining part (the distractor's, the background's,
    another part's); a second concept of the same defining part may rank between them.
    Both are False unless a concept was found for every part (the caller checks `found` is complete).
    """
    mean = np.asarray(mean, dtype=np.float64)
    mine = sorted(found.values())
    top = sorted(np.argsort(-mean, kind="stable")[: len(mine)].tolist())
    others = [c for c, o in enumerate(owners) if o not in found and c not in mine]
    floor = max((mean[c] for c in others), default=-np.inf)
    return bool(mine) and all(mean[c] > floor for c in mine), bool(mine) and top == mine


def share_of(shares: np.ndarray, owners: Sequence[str | None], part: str) -> float:
    """The share of the positive importance held by the concepts assigned to `part`."""
    pos = np.clip(np.asarray(shares, dtype=np.float64), 0, None)
    total = pos.sum()
    return float(sum(pos[c] for c, o in enumerate(owners) if o == part) / total) if total > 0 else 0.0
