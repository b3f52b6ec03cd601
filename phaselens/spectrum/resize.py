"""The magnitude a MACO image of any size gets: the spectrum's native grid, resized.

MACO's authors (Horama) keep one 512 x 512 magnitude grid and resize it
bilinearly, with antialiasing, to each image's rfft2 layout. We do the same
with the spectrum's native grid (a grid spectrum's own size; for a fitted
curve, the size it was fitted at), because at 64 px it beat evaluating the
curve at each bin's frequency on the paper's own metric (paired A/B in
docs/benchmark.md): the antialiasing filter averages each bin over its
neighbourhood, which lowers the DC and the fitted dip at Nyquist relative to
the rest, and moves a little power to higher frequencies. At the native size
(512 for the shipped spectrum) the resize is the identity.
"""

from __future__ import annotations

import math
import weakref

import torch
from torch.nn import functional as F

from ..fourier import symmetrize_magnitude
from .base import Spectrum, _check_request
from .grid import GridSpectrum
from .parametric import ParametricSpectrum

_native_grids: weakref.WeakKeyDictionary[Spectrum, dict[int, torch.Tensor]] = weakref.WeakKeyDictionary()


def native_size(spectrum: Spectrum) -> tuple[int, int] | None:
    """The grid size a spectrum comes from, or None for a pure formula (e.g. a power law)."""
    if isinstance(spectrum, GridSpectrum):
        return spectrum.size
    if isinstance(spectrum, ParametricSpectrum):
        n = round(1.0 / spectrum.f_min)
        return n, n
    return None


def _native_grid(spectrum: Spectrum, size: tuple[int, int], channels: int) -> torch.Tensor:
    # Evaluating the shipped fit at 512 x 512 takes ~0.4 s; every batch of a Lens run needs it.
    cache = _native_grids.setdefault(spectrum, {})
    if channels not in cache:
        cache[channels] = spectrum.magnitude(*size, channels)
    return cache[channels]


def image_magnitude(spectrum: Spectrum, height: int, width: int, channels: int = 3) -> torch.Tensor:
    """MACO's fixed magnitude for an H x W image: the native grid resized like Horama's.

    Non-DC bins keep the ``sqrt(H * W)`` scaling of `Spectrum.magnitude` (only
    ratios matter: the image is standardized); the Hermitian columns are made
    symmetric, so the result is exactly the |rfft2| a real image can have.

    Shape:
        - output: (channels, H, W // 2 + 1) float32.

    Example:
        >>> from phaselens.spectrum import default_spectrum
        >>> image_magnitude(default_spectrum(), 64, 48).shape
        torch.Size([3, 64, 25])
    """
    _check_request(height, width, channels)
    native = native_size(spectrum)
    if native is None or native == (height, width):
        return spectrum.magnitude(height, width, channels)
    nh, nw = native
    grid = _native_grid(spectrum, native, channels)
    size = (height, width // 2 + 1)
    out = F.interpolate(grid[None], size=size, mode="bilinear", align_corners=False, antialias=True)[0]
    out = out * math.sqrt(height * width / (nh * nw))
    return symmetrize_magnitude(out, width).float().contiguous()
