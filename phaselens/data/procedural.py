"""Procedural image classes whose visual definition is known by construction.

Every image is one object drawn over a background with natural-image
statistics (random-phase 1/f colour noise). Ten classes are defined by shape,
colour, texture, orientation or parts, so a feature visualization of a class
can be checked against the definition below instead of being judged by eye.

Item ``i`` of a dataset with seed ``s`` is a pure function of ``(s, i)``: it is
drawn from ``numpy.random.default_rng([s, i])`` and nothing else, so any item
can be regenerated alone, in any order, in any process.

Geometry lives in normalized coordinates (the image spans [-1, 1] on each
axis), so the same item rendered at 64 and at 128 pixels shows the same object
(shape, place, colour); only the background noise is redrawn per size.
Edges are antialiased from signed distance functions.

This module is longer than most (about 400 lines) on purpose: the ten class
definitions, the drawing primitives they use and the seeding rule are read
together when checking what a class *is*; split up, a definition would no longer
sit next to the shapes it draws.
"""

from __future__ import annotations

import colorsys
from collections.abc import Callable
from functools import lru_cache

import numpy as np
import torch
from torch.utils.data import Dataset

from ..errors import PhaseLensError

CLASS_NAMES: tuple[str, ...] = (
    "red_disc",
    "blue_square",
    "green_triangle",
    "yellow_star",
    "horizontal_stripes",
    "vertical_stripes",
    "checkerboard",
    "concentric_rings",
    "plus_cross",
    "two_dots",
)

CLASS_DEFINITIONS: tuple[str, ...] = (
    "a filled red disc (hue 0 +- 0.03), any size and position",
    "a filled blue square (hue 0.62 +- 0.03), tilted at most 20 degrees",
    "a filled green equilateral triangle (hue 0.33 +- 0.03), any rotation",
    "a filled yellow five-pointed star (hue 0.15 +- 0.03), any rotation",
    "a square patch of horizontal stripes (tilt <= 10 degrees), random colour",
    "a square patch of vertical stripes (tilt <= 10 degrees), random colour",
    "a square checkerboard patch (tilt <= 10 degrees), random colour",
    "concentric rings around a filled centre (a target), random colour",
    "a plus-shaped cross with equal arms (tilt <= 15 degrees), random colour",
    "two equal dots side by side at any orientation, random colour",
)

NUM_CLASSES = len(CLASS_NAMES)

# Hue (in [0, 1)) of the four classes that a colour defines, by label.
CLASS_HUES: dict[int, float] = {0: 0.0, 1: 0.62, 2: 0.33, 3: 0.15}

MIN_SIZE = 32
_HUE_JITTER = 0.03

# Object size range: the object's half-extent as a fraction of the half-image.
DEFAULT_SCALE: tuple[float, float] = (0.4, 0.65)


# --------------------------------------------------------------------------- #
# Background: random-phase 1/f colour noise
# --------------------------------------------------------------------------- #


@lru_cache(maxsize=8)
def _one_over_f(size: int) -> np.ndarray:
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    f = np.sqrt(fx**2 + fy**2)
    f[0, 0] = 1.0
    amp = 1.0 / f
    amp[0, 0] = 0.0
    return amp


# Rows: luminance, red-green and blue-yellow opponent axes, as RGB directions.
_OPPONENT = np.array([[1.0, 1.0, 1.0], [1.0, -1.0, 0.0], [0.5, 0.5, -1.0]], dtype=np.float64)


def _background(rng: np.random.Generator, size: int) -> np.ndarray:
    """A (3, size, size) float image of 1/f noise with a muted random tint."""
    phase = rng.uniform(0.0, 2.0 * np.pi, (3, size, size // 2 + 1))
    spec = _one_over_f(size)[None] * np.exp(1j * phase)
    noise = np.fft.irfft2(spec, s=(size, size), axes=(-2, -1))
    noise /= noise.std(axis=(1, 2), keepdims=True) + 1e-12
    weights = np.array([1.0, rng.uniform(0.15, 0.4), rng.uniform(0.15, 0.4)])
    rgb = np.einsum("k,kc,khw->chw", weights, _OPPONENT, noise)
    rgb /= rgb.std() + 1e-12
    grey = rng.uniform(0.3, 0.7)
    tint = rng.normal(0.0, 0.05, 3)
    contrast = rng.uniform(0.08, 0.16)
    return (grey + tint)[:, None, None] + contrast * rgb


# --------------------------------------------------------------------------- #
# Signed distance functions (negative inside) in shape-local coordinates
# --------------------------------------------------------------------------- #


def _sd_polygon(x: np.ndarray, y: np.ndarray, verts: np.ndarray) -> np.ndarray:
    """Exact signed distance to a simple polygon with vertices ``verts`` (V, 2)."""
    d = (x - verts[0, 0]) ** 2 + (y - verts[0, 1]) ** 2
    inside = np.zeros(x.shape, dtype=bool)
    n = len(verts)
    for i in range(n):
        vi, vj = verts[i], verts[i - 1]
        ex, ey = vj[0] - vi[0], vj[1] - vi[1]
        wx, wy = x - vi[0], y - vi[1]
        t = np.clip((wx * ex + wy * ey) / (ex * ex + ey * ey), 0.0, 1.0)
        bx, by = wx - ex * t, wy - ey * t
        d = np.minimum(d, bx * bx + by * by)
        c1 = y >= vi[1]
        c2 = y < vj[1]
        c3 = ex * wy > ey * wx
        inside ^= (c1 & c2 & c3) | (~c1 & ~c2 & ~c3)
    return np.where(inside, -1.0, 1.0) * np.sqrt(d)


def _sd_box(x: np.ndarray, y: np.ndarray, half: float) -> np.ndarray:
    qx, qy = np.abs(x) - half, np.abs(y) - half
    outside = np.hypot(np.maximum(qx, 0.0), np.maximum(qy, 0.0))
    return outside + np.minimum(np.maximum(qx, qy), 0.0)


def _sd_bands(t: np.ndarray, period: float) -> np.ndarray:
    """Bands of width period/2 centred on multiples of ``period`` along ``t``."""
    phase = t / period - np.floor(t / period + 0.5)  # in [-0.5, 0.5)
    return (np.abs(phase) - 0.25) * period


def _regular_polygon(n: int, radius: float, start: float = np.pi / 2) -> np.ndarray:
    a = start + 2.0 * np.pi * np.arange(n) / n
    return np.stack([radius * np.cos(a), radius * np.sin(a)], axis=1)


def _star_vertices(points: int = 5, outer: float = 1.0, inner: float = 0.42) -> np.ndarray:
    a = np.pi / 2 + np.pi * np.arange(2 * points) / points
    r = np.where(np.arange(2 * points) % 2 == 0, outer, inner)
    return np.stack([r * np.cos(a), r * np.sin(a)], axis=1)


def _cross_vertices(arm: float = 1.0, half_width: float = 0.3) -> np.ndarray:
    a, w = arm, half_width
    return np.array(
        [[w, w], [w, a], [-w, a], [-w, w], [-a, w], [-a, -w], [-w, -w], [-w, -a], [w, -a], [w, -w], [a, -w], [a, w]]
    )


_TRIANGLE = _regular_polygon(3, 1.0)
_STAR = _star_vertices()
_CROSS = _cross_vertices()


# --------------------------------------------------------------------------- #
# Class renderers: (x, y local coords, rng) -> (signed distance, max tilt)
# --------------------------------------------------------------------------- #

Sdf = Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]


def _disc(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return np.hypot(x, y) - 0.9


def _square(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _sd_box(x, y, 0.8)


def _triangle(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _sd_polygon(x, y, _TRIANGLE * 1.05)


def _star(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _sd_polygon(x, y, _STAR * 1.05)


def _hstripes(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    period = rng.uniform(0.38, 0.5)
    return np.maximum(_sd_box(x, y, 0.9), _sd_bands(y - rng.uniform(0, period), period))


def _vstripes(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    period = rng.uniform(0.38, 0.5)
    return np.maximum(_sd_box(x, y, 0.9), _sd_bands(x - rng.uniform(0, period), period))


def _checker(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    cell = rng.uniform(0.33, 0.45)
    u = x / cell + 0.5 * rng.integers(0, 2)
    v = y / cell
    du = (u - np.round(u)) * cell  # distance to the nearest vertical grid line
    dv = (v - np.round(v)) * cell
    parity = (np.floor(u) + np.floor(v)) % 2 == 0
    sd = np.where(parity, -1.0, 1.0) * np.minimum(np.abs(du), np.abs(dv))
    return np.maximum(_sd_box(x, y, 0.9), sd)


def _rings(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    # A filled centre and `count` rings; the outermost ring ends exactly at
    # radius 0.95 and the window cuts mid-gap, so no partial ring shows.
    count = int(rng.integers(2, 4))
    period = 0.95 / (count + 0.25)
    rho = np.hypot(x, y)
    return np.maximum(rho - 0.95 - period / 4.0, _sd_bands(rho, period))


def _cross(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return _sd_polygon(x, y, _CROSS)


def _two_dots(x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    gap = rng.uniform(0.5, 0.6)
    return np.minimum(np.hypot(x - gap, y), np.hypot(x + gap, y)) - 0.38


# label -> (sdf, max tilt in degrees, or None for any rotation)
_RENDERERS: tuple[tuple[Sdf, float | None], ...] = (
    (_disc, None),
    (_square, 20.0),
    (_triangle, None),
    (_star, None),
    (_hstripes, 10.0),
    (_vstripes, 10.0),
    (_checker, 10.0),
    (_rings, None),
    (_cross, 15.0),
    (_two_dots, None),
)


def _object_colour(rng: np.random.Generator, label: int) -> np.ndarray:
    if label in CLASS_HUES:
        hue = (CLASS_HUES[label] + rng.uniform(-_HUE_JITTER, _HUE_JITTER)) % 1.0
        sat = rng.uniform(0.7, 1.0)
        val = rng.uniform(0.7, 1.0)
        return np.array(colorsys.hsv_to_rgb(hue, sat, val))
    return _random_colour(rng)


def _random_colour(rng: np.random.Generator) -> np.ndarray:
    """An RGB colour of any hue, fairly saturated and bright (the "random colour" of the definitions)."""
    hue = rng.uniform(0.0, 1.0)
    sat = rng.uniform(0.3, 1.0)
    val = rng.uniform(0.55, 1.0)
    return np.array(colorsys.hsv_to_rgb(hue, sat, val))


@lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    c = (np.arange(size) + 0.5) / size * 2.0 - 1.0
    # Image rows go down; y goes up so "up" in the shape is up in the image.
    return np.meshgrid(c, -c, indexing="xy")


def _local_coords(size: int, cx: float, cy: float, angle: float, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-grid coordinates local to a shape centred at (cx, cy), turned by ``angle``, of half-extent ``scale``."""
    gx, gy = _grid(size)
    dx, dy = gx - cx, gy - cy
    ca, sa = np.cos(angle), np.sin(angle)
    return (ca * dx + sa * dy) / scale, (-sa * dx + ca * dy) / scale


def _coverage(dist: np.ndarray, size: int) -> np.ndarray:
    """Antialiased coverage in [0, 1] of a signed distance in image units (one pixel of ramp)."""
    return np.clip(0.5 - dist * (size / 2.0), 0.0, 1.0)


def _camera(img: np.ndarray, rng: np.random.Generator, noise_rng: np.random.Generator) -> np.ndarray:
    """Mild global colour jitter (per-channel gain) and sensor noise, then clip; float32 out."""
    img = img * rng.uniform(0.95, 1.05, 3)[:, None, None]
    img = img + noise_rng.normal(0.0, 0.01, img.shape)
    return np.clip(img, 0.0, 1.0).astype(np.float32)


def check_scale(scale: tuple[float, float]) -> tuple[float, float]:
    """Validate an object size range (fractions of the half-image)."""
    try:
        lo, hi = (float(v) for v in scale)
    except (TypeError, ValueError):
        raise PhaseLensError(f"scale must be a pair (min, max), got {scale!r}") from None
    if not 0.05 <= lo <= hi <= 0.9:
        raise PhaseLensError(
            f"scale must satisfy 0.05 <= min <= max <= 0.9 (fractions of the half-image), got {scale!r}"
        )
    return lo, hi


def render(
    rng: np.random.Generator, label: int, size: int = 64, scale: tuple[float, float] = DEFAULT_SCALE
) -> np.ndarray:
    """Draw one image of class ``label`` using (and advancing) ``rng``.

    Args:
        scale: range of the object's half-extent as a fraction of the
            half-image (the default is the dataset's; the zoo trains on a
            wider range, see `phaselens.zoo.train`).

    Shape:
        - Output: (3, size, size) float32 array in [0, 1].
    """
    if not 0 <= label < NUM_CLASSES:
        raise PhaseLensError(f"label {label} out of range 0..{NUM_CLASSES - 1}")
    # Two independent streams, so the object (geometry, colour) is the same
    # at every image size; only the background noise depends on the size.
    obj_rng = np.random.default_rng(rng.integers(0, 2**63, 2))
    bg_rng = np.random.default_rng(rng.integers(0, 2**63, 2))
    rng = obj_rng
    sdf, tilt = _RENDERERS[label]
    obj_scale = float(rng.uniform(*check_scale(scale)))
    cx, cy = rng.uniform(-(0.97 - obj_scale), 0.97 - obj_scale, 2)
    angle = rng.uniform(-np.pi, np.pi) if tilt is None else np.deg2rad(rng.uniform(-tilt, tilt))
    x, y = _local_coords(size, cx, cy, angle, obj_scale)
    alpha = _coverage(sdf(x, y, rng) * obj_scale, size)  # distance back in image units
    colour = _object_colour(rng, label)
    img = _background(bg_rng, size)
    img = img * (1.0 - alpha) + colour[:, None, None] * alpha
    return _camera(img, rng, bg_rng)


def sample(seed: int, index: int, size: int = 64, scale: tuple[float, float] = DEFAULT_SCALE) -> tuple[np.ndarray, int]:
    """Item ``index`` of the dataset with ``seed``: (image, label), label = index % 10.

    Shape:
        - image: (3, size, size) float32 array in [0, 1].
    """
    if seed < 0 or index < 0:
        raise PhaseLensError(f"seed ({seed}) and index ({index}) must be >= 0")
    label = index % NUM_CLASSES
    return render(np.random.default_rng([seed, index]), label, size, scale), label


def _check_size(size: int) -> int:
    size = int(size)
    if size < MIN_SIZE:
        raise PhaseLensError(f"image size {size} is too small; use {MIN_SIZE} or more (64..128 intended)")
    return size


class ProceduralShapes(Dataset):
    """``n`` procedurally drawn images of the ten `CLASS_NAMES` classes.

    Args:
        n: number of items.
        size: image side in pixels (64..128 intended; geometry is resolution-free).
        seed: non-negative; item ``i`` depends only on ``(seed, i)``.
        scale: range of the object's half-extent, as a fraction of the
            half-image (default `DEFAULT_SCALE`).

    Labels are balanced: item ``i`` has label ``i % 10``.

    Shape:
        - image: (3, size, size) float32 tensor in [0, 1].
        - label: int in [0, 10).

    Example:
        >>> ds = ProceduralShapes(20, size=64, seed=0)
        >>> img, label = ds[3]
        >>> tuple(img.shape), CLASS_NAMES[label]
        ((3, 64, 64), 'yellow_star')
    """

    def __init__(self, n: int, size: int = 64, seed: int = 0, scale: tuple[float, float] = DEFAULT_SCALE) -> None:
        if n < 0:
            raise PhaseLensError(f"dataset length must be >= 0, got {n}")
        if seed < 0:
            raise PhaseLensError(f"seed must be >= 0, got {seed}")
        self.n = int(n)
        self.size = _check_size(size)
        self.seed = int(seed)
        self.scale = check_scale(scale)
        self.class_names = CLASS_NAMES

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        if i < 0:
            i += self.n
        if not 0 <= i < self.n:
            raise IndexError(f"index {i} out of range for {self.n} items")
        img, label = sample(self.seed, i, self.size, self.scale)
        return torch.from_numpy(img), label


def make_batch(
    n: int, size: int = 64, seed: int = 0, scale: tuple[float, float] = DEFAULT_SCALE
) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``n`` items of ``ProceduralShapes(n, size, seed, scale)``, stacked.

    Shape:
        - images: (n, 3, size, size) float32 in [0, 1].
        - labels: (n,) int64, ``labels[i] == i % 10``.
    """
    ds = ProceduralShapes(n, size, seed, scale)
    images = np.empty((ds.n, 3, ds.size, ds.size), dtype=np.float32)
    for i in range(ds.n):
        images[i], _ = sample(ds.seed, i, ds.size, ds.scale)
    labels = torch.arange(ds.n, dtype=torch.int64) % NUM_CLASSES
    return torch.from_numpy(images), labels
