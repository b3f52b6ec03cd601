"""How concepts relate: to each other, to the classes of the head, across classes, and across fits.

- `similarity` and `similarity_layout`: the pairwise cosine of a class's concept vectors, and a 2-D
  layout of it (classical MDS: deterministic, no dependency), as the Lens "concept similarity" chart.
- `head_directions` and `alignment`: the direction in activation space that raises each class logit,
  and each concept's top classes by cosine with it (Lens "concept alignment with classes").
- `links`: similar concepts of different classes (Lens "similar concepts").
- `match` and `stability`: one-to-one matching of two banks by cosine (Hungarian), e.g. two fits on
  halves of the images.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import PhaseLensError


def _unit(w: torch.Tensor | np.ndarray) -> np.ndarray:
    arr = w.detach().cpu().double().numpy() if isinstance(w, torch.Tensor) else np.asarray(w, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[0] < 1:
        raise PhaseLensError(f"concept vectors must be (concepts, channels), got shape {arr.shape}")
    norm = np.linalg.norm(arr, axis=1, keepdims=True)
    return arr / np.where(norm > 0, norm, 1.0)


def similarity(W: torch.Tensor | np.ndarray) -> np.ndarray:
    """(R, D) concept vectors -> (R, R) cosine similarities.

    Example:
        >>> similarity(np.array([[1.0, 0.0], [1.0, 1.0]])).round(3).tolist()
        [[1.0, 0.707], [0.707, 1.0]]
    """
    u = _unit(W)
    return np.clip(u @ u.T, -1.0, 1.0)


def similarity_layout(sim: np.ndarray) -> np.ndarray:
    """(R, R) similarities -> (R, 2) points whose distances follow 1 - similarity (classical MDS).

    Scaled to [-1, 1] on the longer axis, with a fixed sign per axis (deterministic).
    """
    sim = np.asarray(sim, dtype=np.float64)
    r = sim.shape[0]
    d2 = np.clip(1.0 - sim, 0.0, None) ** 2
    j = np.eye(r) - 1.0 / r
    b = -0.5 * j @ d2 @ j
    vals, vecs = np.linalg.eigh(b)
    top = np.argsort(vals)[::-1][:2]
    pts = vecs[:, top] * np.sqrt(np.clip(vals[top], 0.0, None))
    pts = np.pad(pts, ((0, 0), (0, 2 - pts.shape[1])))
    for k in range(2):
        i = np.abs(pts[:, k]).argmax()
        if pts[i, k] < 0:
            pts[:, k] = -pts[:, k]
    scale = np.abs(pts).max()
    return pts / scale if scale > 0 else pts


def head_directions(
    h: Callable[[torch.Tensor], torch.Tensor],
    grid: tuple[int, int],
    channels: int,
    batch: int = 256,
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """The direction of each class logit in activation space: (K, D).

    Row k holds h(e_d) - h(0) for every channel d, where e_d is channel d switched on at every
    position. For a head that is global pooling + a linear layer this is exactly the layer's weight
    (times the pooling), so a concept's cosine with it is CRAFT's alignment; for other heads it is the
    change of each logit per unit of each channel, a linearization around zero.

    Args:
        h: activations (M, h, w, D) -> logits (M, K).
        grid: (h, w) of the activation grid. channels: D. device: where `h` runs.

    Shape:
        - output: (K, D), on the CPU
    """
    with torch.no_grad():
        zero = torch.zeros(1, *grid, channels, device=device)
        base = h(zero).float().cpu()
        rows = []
        for start in range(0, channels, batch):
            idx = torch.arange(start, min(start + batch, channels))
            probe = torch.zeros(len(idx), *grid, channels)
            probe[torch.arange(len(idx)), :, :, idx] = 1.0
            probe = probe.to(device)
            rows.append((h(probe).float() - base).cpu())
    return torch.cat(rows).T.contiguous()


@dataclass
class Alignment:
    """Each concept's top classes: ``classes`` (R, k) indices and ``cosines`` (R, k), best first."""

    classes: np.ndarray
    cosines: np.ndarray


def alignment(W: torch.Tensor | np.ndarray, directions: torch.Tensor | np.ndarray, top: int = 5) -> Alignment:
    """Rank the classes by the cosine of each concept vector with the class's head direction.

    Args:
        W: (R, D) concept vectors. directions: (K, D) class directions (`head_directions`).
        top: classes kept per concept.
    """
    u, d = _unit(W), _unit(directions)
    if u.shape[1] != d.shape[1]:
        raise PhaseLensError(f"concepts have {u.shape[1]} channels but the class directions {d.shape[1]}")
    cos = u @ d.T
    k = min(top, cos.shape[1])
    order = np.argsort(-cos, axis=1, kind="stable")[:, :k]
    return Alignment(order, np.take_along_axis(cos, order, axis=1))


@dataclass
class Link:
    """Concept `concept` of class `cls` is similar (cosine `cosine`) to concept `other_concept` of `other`."""

    cls: int
    concept: int
    other: int
    other_concept: int
    cosine: float


def links(
    banks: Sequence[torch.Tensor | np.ndarray],
    classes: Sequence[int],
    threshold: float = 0.8,
    per_concept: int = 3,
    chunk: int = 1024,
) -> list[Link]:
    """Similar concepts of different classes: for every concept, its most similar concepts of other
    classes with cosine >= `threshold` (at most `per_concept`, best first, at most one per class).

    Rows go `chunk` concepts at a time, and each looks only at its ``per_concept × rank`` best
    columns (they hold the best concept of each of its `per_concept` best classes), so 1000 classes
    of 10 concepts take seconds and a bounded amount of memory.
    """
    if len(banks) != len(classes):
        raise PhaseLensError(f"{len(banks)} banks but {len(classes)} class ids")
    if not banks:
        return []
    units = [_unit(w) for w in banks]
    owner = np.concatenate([np.full(len(u), i) for i, u in enumerate(units)])
    index = np.concatenate([np.arange(len(u)) for u in units])
    allv = np.concatenate(units)
    k = min(len(allv), per_concept * max(len(u) for u in units))
    out = []
    for lo in range(0, len(allv), chunk):
        rows = np.arange(lo, min(lo + chunk, len(allv)))
        cos = allv[rows] @ allv.T
        cos[owner[rows][:, None] == owner[None, :]] = -np.inf  # never a concept of its own class
        kth = np.partition(cos, len(allv) - k, axis=1)[:, len(allv) - k]
        for r, a in enumerate(rows):
            cand = np.flatnonzero(cos[r] >= max(kth[r], threshold))  # ties at the k-th value included
            best: dict[int, tuple[float, int]] = {}
            for b in cand[np.lexsort((cand, -cos[r, cand]))]:  # best first, lower index on ties
                best.setdefault(int(owner[b]), (float(cos[r, b]), int(b)))
            ranked = sorted(best.items(), key=lambda kv: -kv[1][0])[:per_concept]
            for other, (c, b) in ranked:
                out.append(Link(classes[int(owner[a])], int(index[a]), classes[other], int(index[b]), round(c, 6)))
    return out


def match(W1: torch.Tensor | np.ndarray, W2: torch.Tensor | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matching of the concepts of two banks maximizing total cosine (Hungarian).

    Returns (pairs (M, 2) of indices into W1 and W2, their cosines (M,)), M = min(R1, R2).
    """
    try:
        from scipy.optimize import linear_sum_assignment
    except ImportError:
        raise PhaseLensError("matching concepts needs scipy: pip install phaselens[concepts]") from None
    cos = _unit(W1) @ _unit(W2).T
    rows, cols = linear_sum_assignment(-cos)
    return np.stack([rows, cols], axis=1), cos[rows, cols]


def stability(W1: torch.Tensor | np.ndarray, W2: torch.Tensor | np.ndarray) -> float:
    """Mean cosine of the matched concepts of two fits (1: the same concepts were found twice)."""
    return float(match(W1, W2)[1].mean())
