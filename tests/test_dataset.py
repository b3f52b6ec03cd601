"""The procedural dataset: deterministic, balanced, in range, and each class
recognisable from the statistic its definition names."""

from __future__ import annotations

import pytest
import torch

from phaselens.data import (
    CLASS_DEFINITIONS,
    CLASS_HUES,
    CLASS_NAMES,
    DEFAULT_SCALE,
    NUM_CLASSES,
    ProceduralShapes,
    make_batch,
)
from phaselens.errors import PhaseLensError


@pytest.fixture(scope="module")
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    return make_batch(200, 64, seed=11)


def test_names_and_definitions() -> None:
    assert NUM_CLASSES == 10
    assert len(CLASS_NAMES) == len(CLASS_DEFINITIONS) == 10
    assert len(set(CLASS_NAMES)) == 10
    for name in CLASS_NAMES:
        assert name == name.lower() and " " not in name and name.isascii()
    for definition in CLASS_DEFINITIONS:
        assert definition and "\n" not in definition


def test_same_seed_same_tensors() -> None:
    a = ProceduralShapes(30, size=64, seed=5)
    b = ProceduralShapes(30, size=64, seed=5)
    for i in (0, 7, 29):
        xa, ya = a[i]
        xb, yb = b[i]
        assert ya == yb
        assert torch.equal(xa, xb)
    # Item i depends on (seed, i) only: not on n, nor on access order.
    c = ProceduralShapes(1000, size=64, seed=5)
    assert torch.equal(c[29][0], a[29][0])
    assert torch.equal(a[-1][0], a[29][0])


def test_make_batch_matches_dataset() -> None:
    x, y = make_batch(12, 64, seed=3)
    ds = ProceduralShapes(12, 64, seed=3)
    assert x.shape == (12, 3, 64, 64) and y.shape == (12,)
    assert y.dtype == torch.int64
    for i in range(12):
        img, label = ds[i]
        assert torch.equal(x[i], img)
        assert int(y[i]) == label


def test_different_seed_or_index_differs() -> None:
    x0, _ = make_batch(10, 64, seed=0)
    x1, _ = make_batch(10, 64, seed=1)
    for i in range(10):
        assert (x0[i] - x1[i]).abs().mean() > 0.01
    ds = ProceduralShapes(20, 64, seed=0)
    assert (ds[0][0] - ds[10][0]).abs().mean() > 0.01  # same class, new image


def test_labels_balanced_and_in_range(batch) -> None:
    _, y = batch
    assert int(y.min()) >= 0 and int(y.max()) < NUM_CLASSES
    assert torch.bincount(y, minlength=NUM_CLASSES).tolist() == [20] * NUM_CLASSES
    ds = ProceduralShapes(25, 64, seed=0)
    assert [ds[i][1] for i in range(25)] == [i % 10 for i in range(25)]


@pytest.mark.parametrize("size", [64, 96])
def test_shape_dtype_range(size: int) -> None:
    x, _ = make_batch(20, size, seed=2)
    assert x.shape == (20, 3, size, size)
    assert x.dtype == torch.float32
    assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
    assert float(x.std()) > 0.05  # not blank


def test_invalid_arguments() -> None:
    with pytest.raises(PhaseLensError):
        ProceduralShapes(10, size=8)
    with pytest.raises(PhaseLensError):
        ProceduralShapes(10, seed=-1)
    with pytest.raises(IndexError):
        ProceduralShapes(3)[3]
    for bad in [(0.5, 0.4), (0.0, 0.3), (0.2, 1.5), (0.3,), "wide"]:
        with pytest.raises(PhaseLensError, match="scale"):
            ProceduralShapes(3, scale=bad)


def test_default_scale_is_the_dataset() -> None:
    # Passing the default range explicitly changes nothing: the zoo's test data stay the same.
    a, _ = make_batch(10, 64, seed=5)
    b, _ = make_batch(10, 64, seed=5, scale=DEFAULT_SCALE)
    assert torch.equal(a, b)


def test_scale_sets_object_size() -> None:
    # Red-disc pixels (the statistic of the colour test below) cover an area that grows with
    # the square of the scale; the same items drawn small and large keep their place and colour.
    def red_area(scale: tuple[float, float]) -> torch.Tensor:
        x, y = make_batch(100, 64, seed=8, scale=scale)
        h, s, v = _hsv(x[y == 0])
        red = (torch.minimum(h, 1 - h) < 0.06) & (s > 0.45) & (v > 0.5)
        return red.float().mean((1, 2))

    small, large = red_area((0.2, 0.2)), red_area((0.6, 0.6))
    ratio = float(small.mean() / large.mean())
    assert 0.6 * (0.2 / 0.6) ** 2 < ratio < 1.6 * (0.2 / 0.6) ** 2, ratio
    assert float(small.min()) > 0.0


def _hsv(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    mx, _ = x.max(1)
    mn, _ = x.min(1)
    d = mx - mn + 1e-8
    r, g, b = x[:, 0], x[:, 1], x[:, 2]
    h = torch.where(mx == r, ((g - b) / d) % 6, torch.where(mx == g, (b - r) / d + 2, (r - g) / d + 4)) / 6
    return h, d / (mx + 1e-8), mx


def test_colour_classes_have_their_hue(batch) -> None:
    x, y = batch
    h, s, v = _hsv(x)
    colour_labels = list(CLASS_HUES)
    for k, hue in CLASS_HUES.items():
        dh = torch.minimum((h - hue).abs(), 1 - (h - hue).abs())
        frac = ((dh < 0.06) & (s > 0.45) & (v > 0.5)).float().mean((1, 2))
        own = frac[y == k]
        others = torch.cat([frac[y == j] for j in colour_labels if j != k])
        # Every image of the class shows a patch of its colour ...
        assert float(own.min()) > 0.04, CLASS_NAMES[k]
        # ... and the other colour-defined classes mostly do not.
        assert float(own.mean()) > 5 * float(others.mean()), CLASS_NAMES[k]


def test_stripe_orientation(batch) -> None:
    x, y = batch
    grey = x.mean(1)
    dy = (grey[:, 1:] - grey[:, :-1]).abs().mean((1, 2))  # across horizontal edges
    dx = (grey[:, :, 1:] - grey[:, :, :-1]).abs().mean((1, 2))
    ratio = dy / dx
    h = CLASS_NAMES.index("horizontal_stripes")
    v = CLASS_NAMES.index("vertical_stripes")
    assert bool((ratio[y == h] > 1.0).all())
    assert bool((ratio[y == v] < 1.0).all())
    assert float(ratio[y == h].mean()) > 1.04 > 0.96 > float(ratio[y == v].mean())
    # Isotropic classes sit between the two.
    iso = ratio[(y != h) & (y != v)]
    assert 0.98 < float(iso.mean()) < 1.02


def test_object_is_resolution_independent() -> None:
    # Same item at 64 and 128: the object's colour statistic agrees closely.
    red = CLASS_NAMES.index("red_disc")
    small = ProceduralShapes(10, 64, seed=4)[red][0]
    large = ProceduralShapes(10, 128, seed=4)[red][0]

    def red_frac(img: torch.Tensor) -> float:
        return float(((img[0] > 0.5) & (img[0] > 2 * img[1]) & (img[0] > 2 * img[2])).float().mean())

    assert red_frac(small) > 0.05
    assert red_frac(small) == pytest.approx(red_frac(large), rel=0.15)
