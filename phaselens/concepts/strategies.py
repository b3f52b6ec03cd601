"""The strategic cluster graph of the holistic concepts paper (Fel et al., NeurIPS 2023).

Each image of a class has a vector of concept importances; embedded in 2-D, images that the model
decides for the same reasons sit together. Each point is coloured by its dominant concept (the most
important one for that image), and a concept is *important* for the class when it dominates at least
`min_images` images (10 in the Lens site); the others are drawn grey.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..errors import PhaseLensError

EMBEDDINGS = ("tsne", "umap", "pca")
MIN_IMAGES = 10


@dataclass
class Strategies:
    """One class's images as points of the strategic cluster graph.

    Attributes:
        points: (N, 2) embedded importance vectors, scaled to [-1, 1] on the longer axis.
        dominant: (N,) index of each image's most important concept.
        counts: (R,) how many images each concept dominates.
        important: (R,) whether a concept dominates at least `min_images` images.
        method: the embedding used (``tsne``, ``umap`` or ``pca``).
    """

    points: np.ndarray
    dominant: np.ndarray
    counts: np.ndarray
    important: np.ndarray
    method: str

    @property
    def num_important(self) -> int:
        """The headline number of a Lens class page: how many concepts are important."""
        return int(self.important.sum())


def _as_array(per_image: torch.Tensor | np.ndarray) -> np.ndarray:
    arr = per_image.detach().cpu().double().numpy() if isinstance(per_image, torch.Tensor) else np.asarray(per_image)
    if arr.ndim != 2 or arr.shape[0] < 1 or arr.shape[1] < 1:
        raise PhaseLensError(f"per-image importances must be (images, concepts), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise PhaseLensError("per-image importances hold NaN or infinite values")
    return arr.astype(np.float64)


def _pca(x: np.ndarray) -> np.ndarray:
    centred = x - x.mean(axis=0)
    if x.shape[0] < 2 or not centred.any():
        return np.zeros((x.shape[0], 2))
    u, s, _vt = np.linalg.svd(centred, full_matrices=False)
    pts = u[:, :2] * s[:2]
    signs = np.sign(pts[np.abs(pts).argmax(axis=0), range(pts.shape[1])])  # a fixed sign per axis
    pts = pts * np.where(signs == 0, 1, signs)
    return np.pad(pts, ((0, 0), (0, 2 - pts.shape[1])))


def embed(x: np.ndarray, method: str = "tsne", seed: int = 0) -> np.ndarray:
    """(N, R) vectors -> (N, 2) points, seeded; PCA below 4 points (t-SNE needs a neighbourhood).

    Raises:
        PhaseLensError: an unknown method, or scikit-learn / umap-learn missing.
    """
    if method not in EMBEDDINGS:
        raise PhaseLensError(f"unknown embedding {method!r}; valid: {', '.join(EMBEDDINGS)}")
    n = x.shape[0]
    if method == "pca" or n < 4:
        return _pca(x)
    if method == "umap":
        try:
            import umap
        except ImportError:
            raise PhaseLensError("method='umap' needs umap-learn: pip install umap-learn") from None
        reducer = umap.UMAP(n_components=2, random_state=seed, n_neighbors=min(15, n - 1))
        return np.asarray(reducer.fit_transform(x), dtype=np.float64)
    try:
        from sklearn.manifold import TSNE
    except ImportError:
        raise PhaseLensError("the strategy graph needs scikit-learn: pip install phaselens[concepts]") from None
    tsne = TSNE(2, perplexity=min(30.0, (n - 1) / 3.0), init="pca", random_state=seed, max_iter=500)
    return np.asarray(tsne.fit_transform(x), dtype=np.float64)


def strategies(
    per_image: torch.Tensor | np.ndarray, *, min_images: int = MIN_IMAGES, method: str = "tsne", seed: int = 0
) -> Strategies:
    """Embed each image's concept importances in 2-D and find the important concepts.

    Args:
        per_image: (N, R) importance of each concept for each image (``Importance.per_image``).
        min_images: a concept dominating at least this many images is important.
        method: ``tsne`` (scikit-learn, the default, as on Lens class pages), ``umap`` (needs
            umap-learn) or ``pca`` (no dependency, deterministic).
        seed: the embedding's seed.

    Example:
        >>> imp = np.array([[3.0, 0.1], [2.5, 0.2], [0.1, 4.0]])
        >>> s = strategies(imp, min_images=2, method="pca")
        >>> s.dominant.tolist(), s.counts.tolist(), s.important.tolist(), s.points.shape
        ([0, 0, 1], [2, 1], [True, False], (3, 2))
    """
    if min_images < 1:
        raise PhaseLensError(f"min_images must be >= 1, got {min_images}")
    x = _as_array(per_image)
    dominant = x.argmax(axis=1)
    counts = np.bincount(dominant, minlength=x.shape[1])
    points = embed(x, method, seed)
    scale = np.abs(points).max()
    points = points / scale if scale > 0 else points
    return Strategies(points, dominant, counts, counts >= min_images, method)
