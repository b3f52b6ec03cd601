"""The `Spectrum` interface, the plain power law, and the checks every spectrum shares.

Also here: validation of |rfft2| grids (used both to fit a parametric spectrum
and to hold a grid one) and `_finish`, the size scaling of the package doc.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from ..errors import PhaseLensError
from ..fourier import radial_frequency, symmetrize_magnitude


class Spectrum:
    """Interface: `magnitude(height, width, channels)` -> (C, H, W // 2 + 1) float32."""

    def magnitude(self, height: int, width: int, channels: int = 3) -> torch.Tensor:
        raise NotImplementedError


def _check_request(height: int, width: int, channels: int) -> None:
    if height < 1 or width < 1:
        raise PhaseLensError(f"spectrum size must be positive, got {height} x {width}")
    if channels < 1:
        raise PhaseLensError(f"spectrum channels must be >= 1, got {channels}")


def _select_channels(planes: torch.Tensor, channels: int) -> torch.Tensor:
    """(C, H, W') -> (channels, H, W'): all planes, the first (luminance), or one plane repeated."""
    have = planes.shape[0]
    if channels == have:
        return planes
    if channels == 1:
        return planes[:1]
    if have == 1:
        return planes.expand(channels, -1, -1)
    raise PhaseLensError(f"this spectrum has {have} channels; cannot make {channels} (ask for 1 or {have})")


def _finish(log_ac: torch.Tensor, dc: torch.Tensor, height: int, width: int, channels: int) -> torch.Tensor:
    """ln A (C, H, W') and DC means (C,) -> float32 magnitudes with the size scaling of the package doc."""
    mag = math.sqrt(height * width) * torch.exp(log_ac)
    mag[:, 0, 0] = height * width * dc
    return _select_channels(symmetrize_magnitude(mag, width), channels).float().contiguous()


def _grid_width(height: int, columns: int, width: int | None, source: str) -> int:
    """Image width of an rfft2 grid: given, or the square layout (C, N, N // 2 + 1)."""
    if width is None:
        if height // 2 + 1 != columns:
            raise PhaseLensError(
                f"{source} has {height} rows and {columns} columns; the square rfft2 layout has N rows and "
                f"N//2+1 columns, e.g. (3, 512, 257) (a full or fftshifted plane is not accepted)"
            )
        return height
    if width // 2 + 1 != columns:
        raise PhaseLensError(f"{source}: width {width} does not match {columns} rfft2 columns")
    return width


def _log_grid(grid: torch.Tensor) -> torch.Tensor:
    """ln of a non-negative grid, exact zeros raised to its smallest positive value."""
    positive = grid[grid > 0]
    return torch.log(grid.clamp_min(positive.min()))


def _as_grid(grid: torch.Tensor | np.ndarray, source: str) -> torch.Tensor:
    """Validate an |rfft2| grid and return it as float64 (C, H, W')."""
    g = torch.as_tensor(np.asarray(grid) if not isinstance(grid, torch.Tensor) else grid)
    if g.ndim == 2:
        g = g.unsqueeze(0)
    layout = "(3, H, W//2+1) in the rfft2 layout, e.g. (3, 512, 257) as `phaselens spectrum build` writes"
    if g.ndim != 3 or g.shape[0] not in (1, 3) or g.shape[1] < 2 or g.shape[2] < 2:
        raise PhaseLensError(f"{source} has shape {tuple(g.shape)}; expected {layout}")
    if not (g.is_floating_point() or g.dtype in (torch.int32, torch.int64, torch.int16, torch.uint8)):
        raise PhaseLensError(f"{source} has dtype {g.dtype}; expected real magnitudes {layout}")
    g = g.to(torch.float64)
    if not bool(torch.isfinite(g).all()) or bool((g < 0).any()) or not bool((g > 0).any()):
        raise PhaseLensError(f"{source} must hold finite, non-negative magnitudes, not all zero")
    return g


class PowerLawSpectrum(Spectrum):
    """1 / f^alpha magnitude, the same for every channel (a simple natural-image prior)."""

    def __init__(self, alpha: float = 1.2) -> None:
        self.alpha = float(alpha)

    def magnitude(self, height: int, width: int, channels: int = 3) -> torch.Tensor:
        f = radial_frequency(height, width).clamp_min(1.0 / max(height, width))
        mag = f.pow(-self.alpha)
        return mag.expand(channels, -1, -1).contiguous().float()
