"""The benchmark's scores, as pure functions on tensors (no models, no files).

Notation: v_i are the features of visualization i with target class t_i; x_j
the features of natural image j with class y_j; cos is cosine similarity.
See docs/benchmark.md for the definitions these functions implement.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import torch

from ..errors import PhaseLensError

GREY = 0.5


def apply_mask(images: torch.Tensor, alpha: torch.Tensor, background: float = GREY) -> torch.Tensor:
    """Composite images over a flat background: ``images * alpha + background * (1 - alpha)``.

    Shape:
        - images: (B, C, H, W) in [0, 1]
        - alpha: (B, 1, H, W) or (B, C, H, W) in [0, 1]
        - output: (B, C, H, W)
    """
    if alpha.shape[0] != images.shape[0] or alpha.shape[-2:] != images.shape[-2:]:
        raise PhaseLensError(f"alpha {tuple(alpha.shape)} does not fit images {tuple(images.shape)}")
    alpha = alpha.to(images.dtype)
    return images * alpha + background * (1.0 - alpha)


def cosine_matrix(a: torch.Tensor, b: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """Cosine similarity of every row of `a` with every row of `b`.

    Shape:
        - a: (N, D), b: (M, D)
        - output: (N, M)
    """
    a = a.double()
    b = b.double()
    a = a / a.norm(dim=1, keepdim=True).clamp_min(eps)
    b = b / b.norm(dim=1, keepdim=True).clamp_min(eps)
    return a @ b.T


def class_similarity(features: torch.Tensor, natural: torch.Tensor, labels: torch.Tensor, classes: int) -> torch.Tensor:
    """S[i, k]: mean cosine of row i of `features` with the natural images of class k.

    A class with no natural image gets NaN.

    Shape:
        - features: (N, D); natural: (M, D); labels: (M,) long in [0, classes)
        - output: (N, classes) float64
    """
    cos = cosine_matrix(features, natural)
    onehot = torch.nn.functional.one_hot(labels.long(), classes).double()  # (M, K)
    counts = onehot.sum(0)
    sums = cos @ onehot
    return torch.where(counts > 0, sums / counts.clamp_min(1), torch.full_like(sums, float("nan")))


def plausibility(
    features: torch.Tensor,
    targets: Sequence[int] | torch.Tensor,
    natural: torch.Tensor,
    labels: torch.Tensor,
    classes: int,
) -> dict[str, float]:
    """Plausibility of visualizations against natural images, in one feature space.

    With S = `class_similarity` (mean cosine to each class's natural images):
    ``plausibility`` = mean_i S[i, t_i]; ``margin`` = mean_i (S[i, t_i] - max_{k != t_i} S[i, k]);
    ``rank_accuracy`` = fraction of i whose own class is the strictly most similar one.
    Classes without natural images are left out of the max.

    Shape:
        - features: (N, D); targets: (N,); natural: (M, D); labels: (M,)
    """
    t = torch.as_tensor(targets, dtype=torch.long)
    if t.numel() != features.shape[0]:
        raise PhaseLensError(f"{features.shape[0]} feature rows but {t.numel()} targets")
    s = class_similarity(features, natural, labels, classes)
    own = s.gather(1, t[:, None])[:, 0]
    if torch.isnan(own).any():
        raise PhaseLensError("some targets have no natural images of their class")
    others = s.clone()
    others.scatter_(1, t[:, None], float("-inf"))
    others = torch.nan_to_num(others, nan=float("-inf"))
    best_other = others.max(dim=1).values
    return dict(
        plausibility=float(own.mean()),
        margin=float((own - best_other).mean()),
        rank_accuracy=float((own > best_other).double().mean()),
    )


def pca_basis(features: torch.Tensor, dims: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and the top `dims` principal directions of `features` (for a fixed FID subspace).

    Shape:
        - features: (M, D)
        - output: mean (D,), basis (D, min(dims, D, M)) float64 with orthonormal columns
    """
    x = features.double()
    mean = x.mean(0)
    _, _, vh = torch.linalg.svd(x - mean, full_matrices=False)
    return mean, vh[: max(1, min(dims, vh.shape[0]))].T


def gaussian_stats(features: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Mean and (n - 1)-normalized covariance of the rows, in float64.

    Shape:
        - features: (N, D) with N >= 2
        - output: (D,), (D, D)
    """
    x = features.double().cpu().numpy()
    if x.shape[0] < 2:
        raise PhaseLensError(f"a covariance needs at least 2 samples, got {x.shape[0]}")
    return x.mean(0), np.atleast_2d(np.cov(x, rowvar=False))


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6
) -> float:
    """Fréchet distance of two Gaussians: |mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)).

    The matrix square root is scipy.linalg.sqrtm. When S1 S2 is singular enough
    for it to fail (non-finite result), eps * I is added to both covariances, as
    the usual FID implementations do; a negligible imaginary part is dropped.
    """
    from scipy import linalg

    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    diff = mu1 - mu2
    with warnings.catch_warnings():  # a singular product is handled below, not worth a warning
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real  # imaginary parts are round-off of a PSD product's root
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))
    return max(value, 0.0)


def fid(a: torch.Tensor, b: torch.Tensor, basis: tuple[torch.Tensor, torch.Tensor] | None = None) -> float:
    """Fréchet distance between the feature sets `a` and `b`, optionally in a PCA subspace.

    `basis` (mean, directions) from `pca_basis` projects both sets first, so that a
    few samples still give a usable covariance; FID is rotation invariant, so the
    projection only drops the low-variance directions.

    Shape:
        - a: (N, D), b: (M, D), N and M >= 2
    """
    if basis is not None:
        mean, dirs = basis
        a = (a.double() - mean) @ dirs
        b = (b.double() - mean) @ dirs
    return frechet_distance(*gaussian_stats(a), *gaussian_stats(b))


def transferability(predictions: torch.Tensor, targets: Sequence[int] | torch.Tensor) -> float:
    """Fraction of images whose predicted class is their target.

    Shape:
        - predictions: (N,) long; targets: (N,)
    """
    t = torch.as_tensor(targets, dtype=torch.long).cpu()
    p = torch.as_tensor(predictions).long().cpu()
    if p.shape != t.shape:
        raise PhaseLensError(f"{p.numel()} predictions but {t.numel()} targets")
    return float((p == t).double().mean())
