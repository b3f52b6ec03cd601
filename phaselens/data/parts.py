"""Procedural classes made of known parts: a ground truth for concept extraction.

Every image shows two *defining parts* and, in about half of the images, a
*distractor*, side by side (never overlapping) over the 1/f colour-noise
background of `phaselens.data.procedural`. A class is a pair of parts, and
every part defines two or three classes, so no single part decides the label:
a model must find both. The distractor (a small star) appears at random in any
class and decides nothing. Every item also returns the mask of each part it
shows, so a concept method can be scored against where the parts really are.

=====  ===================  ==============================================
label  name                 defining parts
=====  ===================  ==============================================
0      disc_and_stripes     a filled disc, and a patch of three stripes
1      disc_and_cross       a filled disc, and a plus-shaped cross
2      disc_and_ring        a filled disc, and a ring (an annulus)
3      square_and_stripes   a filled square, and a patch of three stripes
4      square_and_two_dots  a filled square, and two dots side by side
5      cross_and_ring       a plus-shaped cross, and a ring
6      cross_and_two_dots   a plus-shaped cross, and two dots side by side
7      ring_and_two_dots    a ring, and two dots side by side
=====  ===================  ==============================================

This module is a little longer than most (about 350 lines) for the reason of
`procedural`: the class table, the part shapes and the placement rule are read
together when checking what a class is.

Part by part: ``disc``, ``cross`` and ``ring`` define three classes each,
``two_dots`` three, ``square`` and ``stripes`` two (`PART_CLASSES`).

Each part has its own random colour (any hue), size (bounding circle of radius
0.32-0.42 of the half-image: a part's silhouette is 15-27 pixels long at 64,
a quarter to two fifths of the side) and position; the square, cross and
stripes are tilted at most 20 degrees (stripes run roughly horizontally), the
two dots turn freely. The distractor star is smaller (radius 0.22-0.3, 11-17
pixels at 64). Geometry is in normalized coordinates as in
`phaselens.data.procedural`, so an item looks the same at any size.

Item ``i`` of seed ``s`` is a pure function of ``(s, i)``
(``numpy.random.default_rng([s, i])``); its label is ``i % 8``.
A mask is a part's silhouette (its outline, filled: the gaps of the stripes and
the hole of the ring belong to it), thresholded at half coverage.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import PhaseLensError
from .procedural import (
    _CROSS,
    _STAR,
    _background,
    _camera,
    _check_size,
    _coverage,
    _local_coords,
    _random_colour,
    _sd_bands,
    _sd_box,
    _sd_polygon,
)

PART_NAMES: tuple[str, ...] = ("disc", "square", "cross", "two_dots", "stripes", "ring")
DISTRACTOR = "star"
DISTRACTOR_P = 0.5  # share of the images that show the distractor, whatever the class

PARTS_CLASS_PARTS: dict[str, tuple[str, str]] = {
    "disc_and_stripes": ("disc", "stripes"),
    "disc_and_cross": ("disc", "cross"),
    "disc_and_ring": ("disc", "ring"),
    "square_and_stripes": ("square", "stripes"),
    "square_and_two_dots": ("square", "two_dots"),
    "cross_and_ring": ("cross", "ring"),
    "cross_and_two_dots": ("cross", "two_dots"),
    "ring_and_two_dots": ("ring", "two_dots"),
}
PARTS_CLASS_NAMES: tuple[str, ...] = tuple(PARTS_CLASS_PARTS)
NUM_PARTS_CLASSES = len(PARTS_CLASS_NAMES)

_WORDS = {
    "disc": "a filled disc",
    "square": "a filled square (tilt <= 20 degrees)",
    "cross": "a plus-shaped cross (tilt <= 20 degrees)",
    "two_dots": "two equal dots side by side, any orientation",
    "stripes": "a patch of three roughly horizontal stripes (tilt <= 20 degrees)",
    "ring": "a ring (annulus)",
}
PARTS_CLASS_DEFINITIONS: tuple[str, ...] = tuple(
    f"{_WORDS[a]}, and {_WORDS[b]}, each of any colour" for a, b in PARTS_CLASS_PARTS.values()
)

# part -> the labels of the classes it defines
PART_CLASSES: dict[str, tuple[int, ...]] = {
    p: tuple(k for k, parts in enumerate(PARTS_CLASS_PARTS.values()) if p in parts) for p in PART_NAMES
}

PART_RADIUS: tuple[float, float] = (0.32, 0.42)  # bounding circle, fraction of the half-image
DISTRACTOR_RADIUS: tuple[float, float] = (0.22, 0.30)
_GAP = 0.08  # at least this much background between two bounding circles
_BORDER = 0.97
_LAYOUT_TRIES = 512  # about 4 % of random layouts fit: 512 tries fail once in ~10^10

# --------------------------------------------------------------------------- #
# Parts, in local coordinates that fit the unit circle:
# (x, y, rng) -> (ink signed distance, silhouette signed distance)
# --------------------------------------------------------------------------- #

PartSdf = Callable[[np.ndarray, np.ndarray, np.random.Generator], tuple[np.ndarray, np.ndarray]]


def _disc(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    d = np.hypot(x, y) - 0.85
    return d, d


def _square(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    d = _sd_box(x, y, 0.7)
    return d, d


def _cross(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    d = _sd_polygon(x, y, _CROSS * 0.95)
    return d, d


def _two_dots(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    d = np.minimum(np.hypot(x - 0.57, y), np.hypot(x + 0.57, y)) - 0.38
    return d, d


def _stripes(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    # Three whole bands centred on y = -p, 0, p; the silhouette is their bounding rectangle.
    period = rng.uniform(0.46, 0.56)
    half_h = 1.25 * period
    rect = np.maximum(np.abs(x) - 0.7, np.abs(y) - half_h)
    return np.maximum(rect, _sd_bands(y, period)), rect


def _ring(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    rho = np.hypot(x, y)
    return np.abs(rho - 0.66) - 0.22, rho - 0.88


def _star(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    d = _sd_polygon(x, y, _STAR * 0.95)
    return d, d


# name -> (sdf, max tilt in degrees, or None for any rotation)
_PARTS: dict[str, tuple[PartSdf, float | None]] = {
    "disc": (_disc, None),
    "square": (_square, 20.0),
    "cross": (_cross, 20.0),
    "two_dots": (_two_dots, None),
    "stripes": (_stripes, 20.0),
    "ring": (_ring, None),
    DISTRACTOR: (_star, None),
}


def _layout(rng: np.random.Generator, radii: np.ndarray) -> np.ndarray:
    """Centres (K, 2) of K bounding circles inside the image, pairwise apart by `_GAP` or more.

    Draws `_LAYOUT_TRIES` candidate layouts at once and keeps the first valid one
    (uniform over valid layouts); if none is (rare), the circles go to distinct quadrants.
    """
    k = len(radii)
    room = _BORDER - radii
    cand = rng.uniform(-1.0, 1.0, (_LAYOUT_TRIES, k, 2)) * room[None, :, None]
    dist = np.linalg.norm(cand[:, :, None] - cand[:, None, :], axis=-1)
    need = radii[:, None] + radii[None, :] + _GAP
    ok = np.all((dist >= need) | np.eye(k, dtype=bool), axis=(1, 2))
    quads = rng.permutation(np.array([[-0.5, -0.5], [0.5, -0.5], [-0.5, 0.5], [0.5, 0.5]]))[:k]
    return cand[int(np.argmax(ok))] if ok.any() else quads


def _check_names(names: Iterable[str], what: str) -> frozenset[str]:
    names = frozenset([names] if isinstance(names, str) else names)
    unknown = sorted(names - set(_PARTS))
    if unknown:
        raise PhaseLensError(f"unknown part(s) {unknown} in {what}; parts: {', '.join(_PARTS)}")
    return names


def render_parts(
    rng: np.random.Generator,
    label: int,
    size: int = 64,
    erase: Iterable[str] = (),
    distractor: bool | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Draw one image of parts class ``label`` using (and advancing) ``rng``.

    Args:
        rng: the item's generator.
        label: class index into `PARTS_CLASS_NAMES`.
        size: image side in pixels.
        erase: parts not to draw (background shows there); the rest of the item is
            unchanged, which makes "the same image without this part".
        distractor: ``None`` draws the star with probability `DISTRACTOR_P`;
            ``True``/``False`` force it in or out, the rest of the item unchanged.

    Returns:
        ``(image, masks)``: masks maps each part drawn to its silhouette.

    Shape:
        - image: (3, size, size) float32 in [0, 1].
        - masks: name -> (size, size) bool, pairwise disjoint.
    """
    if not 0 <= label < NUM_PARTS_CLASSES:
        raise PhaseLensError(f"label {label} out of range 0..{NUM_PARTS_CLASSES - 1}")
    erased = _check_names(erase, "erase")
    obj_rng = np.random.default_rng(rng.integers(0, 2**63, 2))
    bg_rng = np.random.default_rng(rng.integers(0, 2**63, 2))
    rng = obj_rng
    coin = bool(rng.uniform() < DISTRACTOR_P)
    show_star = coin if distractor is None else bool(distractor)
    names = [*PARTS_CLASS_PARTS[PARTS_CLASS_NAMES[label]], DISTRACTOR]
    radii = np.array([*rng.uniform(*PART_RADIUS, 2), rng.uniform(*DISTRACTOR_RADIUS)])
    centres = _layout(rng, radii)
    img = _background(bg_rng, size)
    masks: dict[str, np.ndarray] = {}
    for name, r, (cx, cy) in zip(names, radii, centres):
        sdf, tilt = _PARTS[name]
        angle = rng.uniform(-np.pi, np.pi) if tilt is None else np.deg2rad(rng.uniform(-tilt, tilt))
        box = _box(size, cx, cy, r)  # the part's bounding circle, one pixel wider: coverage is 0 outside
        x, y = (c[box] for c in _local_coords(size, cx, cy, angle, r))
        ink, silhouette = sdf(x, y, rng)
        colour = _random_colour(rng)
        if name in erased or (name == DISTRACTOR and not show_star):
            continue
        alpha = _coverage(ink * r, size)
        rows, cols = box
        img[:, rows, cols] = img[:, rows, cols] * (1.0 - alpha) + colour[:, None, None] * alpha
        masks[name] = np.zeros((size, size), dtype=bool)
        masks[name][box] = _coverage(silhouette * r, size) >= 0.5
    return _camera(img, rng, bg_rng), masks


def _box(size: int, cx: float, cy: float, r: float) -> tuple[slice, slice]:
    """Rows and columns of the pixels within ``r`` plus one pixel of (cx, cy), in normalized coordinates."""
    pad = r + 2.0 / size

    def span(lo: float, hi: float) -> slice:  # normalized [lo, hi] -> pixel indices, clipped to the image
        return slice(max(0, int(np.floor((lo + 1.0) * size / 2.0))), min(size, int(np.ceil((hi + 1.0) * size / 2.0))))

    return span(-cy - pad, -cy + pad), span(cx - pad, cx + pad)  # rows run down, y runs up


def sample_parts(
    seed: int, index: int, size: int = 64, erase: Iterable[str] = (), distractor: bool | None = None
) -> tuple[np.ndarray, int, dict[str, np.ndarray]]:
    """Item ``index`` of the parts dataset with ``seed``: (image, label, masks), label = index % 8.

    ``erase`` and ``distractor`` are as in `render_parts`.

    Shape:
        - image: (3, size, size) float32 in [0, 1]; masks: name -> (size, size) bool.

    Example:
        >>> img, label, masks = sample_parts(0, 9)
        >>> PARTS_CLASS_NAMES[label], sorted(masks)[:2], img.shape
        ('disc_and_cross', ['cross', 'disc'], (3, 64, 64))
    """
    if seed < 0 or index < 0:
        raise PhaseLensError(f"seed ({seed}) and index ({index}) must be >= 0")
    label = index % NUM_PARTS_CLASSES
    img, masks = render_parts(np.random.default_rng([seed, index]), label, _check_size(size), erase, distractor)
    return img, label, masks


class ProceduralParts(Dataset):
    """``n`` images of the eight `PARTS_CLASS_NAMES` classes, each made of two known parts.

    Args:
        n: number of items.
        size: image side in pixels (64 intended; geometry is resolution-free).
        seed: non-negative; item ``i`` depends only on ``(seed, i)``.
        return_masks: if true, items are ``(image, label, masks)``.
        erase, distractor: as in `render_parts` (the same items, parts left out or forced).

    Labels are balanced: item ``i`` has label ``i % 8``.

    Shape:
        - image: (3, size, size) float32 tensor in [0, 1]; label: int in [0, 8).
        - masks: name -> (size, size) bool tensor, for each part drawn.

    Example:
        >>> ds = ProceduralParts(16, seed=0)
        >>> img, label = ds[4]
        >>> tuple(img.shape), PARTS_CLASS_NAMES[label], sorted(ds.masks(4))[:2]
        ((3, 64, 64), 'square_and_two_dots', ['square', 'two_dots'])
    """

    def __init__(
        self,
        n: int,
        size: int = 64,
        seed: int = 0,
        return_masks: bool = False,
        erase: Iterable[str] = (),
        distractor: bool | None = None,
    ) -> None:
        if n < 0:
            raise PhaseLensError(f"dataset length must be >= 0, got {n}")
        if seed < 0:
            raise PhaseLensError(f"seed must be >= 0, got {seed}")
        self.n = int(n)
        self.size = _check_size(size)
        self.seed = int(seed)
        self.return_masks = bool(return_masks)
        self.erase = _check_names(erase, "erase")
        self.distractor = distractor
        self.class_names = PARTS_CLASS_NAMES

    def __len__(self) -> int:
        return self.n

    def _item(self, i: int) -> tuple[np.ndarray, int, dict[str, np.ndarray]]:
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError(f"index {i} out of range for {self.n} items")
        return sample_parts(self.seed, i, self.size, self.erase, self.distractor)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int] | tuple[torch.Tensor, int, dict[str, torch.Tensor]]:
        img, label, masks = self._item(i)
        if self.return_masks:
            return torch.from_numpy(img), label, {k: torch.from_numpy(m) for k, m in masks.items()}
        return torch.from_numpy(img), label

    def masks(self, i: int) -> dict[str, torch.Tensor]:
        """The silhouettes of the parts item ``i`` shows: name -> (size, size) bool tensor."""
        return {k: torch.from_numpy(m) for k, m in self._item(i)[2].items()}


def make_parts_batch(
    n: int, size: int = 64, seed: int = 0, erase: Iterable[str] = (), distractor: bool | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` items of ``ProceduralParts(n, size, seed, erase=..., distractor=...)``, stacked.

    Shape:
        - images: (n, 3, size, size) float32 in [0, 1].
        - labels: (n,) int64, ``labels[i] == i % 8``.
    """
    ds = ProceduralParts(n, size, seed, erase=erase, distractor=distractor)
    images = np.empty((ds.n, 3, ds.size, ds.size), dtype=np.float32)
    for i in range(ds.n):
        images[i] = ds._item(i)[0]
    labels = torch.arange(ds.n, dtype=torch.int64) % NUM_PARTS_CLASSES
    return torch.from_numpy(images), labels
