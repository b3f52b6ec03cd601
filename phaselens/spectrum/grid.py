"""`GridSpectrum`: an averaged |rfft2| grid, evaluated at any size by fit plus interpolated residual.

Also the bilinear interpolation of an rfft2-layout grid at physical
frequencies, and `log_magnitude_correlation` for comparing two spectra.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..fourier import frequency_grid, symmetrize_magnitude
from .base import (
    Spectrum,
    _as_grid,
    _check_request,
    _finish,
    _grid_width,
    _log_grid,
    _select_channels,
)
from .parametric import ParametricSpectrum, fit_parametric


def _interp_rfft(values: torch.Tensor, width: int, fy: torch.Tensor, fx: torch.Tensor) -> torch.Tensor:
    """Bilinear interpolation of an rfft2-layout grid at physical frequencies.

    Rows are put in ascending fy order (for even H the -1/2 row is repeated at
    +1/2, the same bin); frequencies beyond the grid take its edge values.

    Shape:
        - values: (C, Hg, Wg // 2 + 1); fy, fx: (H, W'); output: (C, H, W').
    """
    hg, wfg = values.shape[-2:]
    ky = torch.fft.fftfreq(hg, dtype=torch.float64) * hg
    order = torch.argsort(ky)
    v, ky = values[:, order], ky[order]
    if hg % 2 == 0:
        v, ky = torch.cat([v, v[:, :1]], dim=1), torch.cat([ky, -ky[:1]])
    u = (fy * hg - ky[0]).clamp(0, len(ky) - 1)
    s = (fx * width).clamp(0, wfg - 1)
    i = u.floor().long().clamp(max=len(ky) - 2)
    j = s.floor().long().clamp(max=wfg - 2)
    a, b = u - i, s - j
    return (
        (1 - a) * (1 - b) * v[:, i, j]
        + a * (1 - b) * v[:, i + 1, j]
        + (1 - a) * b * v[:, i, j + 1]
        + a * b * v[:, i + 1, j + 1]
    )


class GridSpectrum(Spectrum):
    """An averaged |rfft2| grid, e.g. from `build_spectrum` or the published MACO one.

    At its own size the grid is returned as is (symmetrized). At any other size
    it is evaluated at the same physical frequencies: a `ParametricSpectrum`
    fitted to it carries the power law (and extrapolates below the grid's lowest
    frequency), and the grid's log-residual from that fit is interpolated
    bilinearly on top, so the grid's own detail survives.

    Args:
        grid: magnitudes, (C, H, W // 2 + 1) with C in {1, 3}, or (H, W // 2 + 1).
        width: image width W (default: the square layout, W = H).
        info: metadata (e.g. images averaged).
    """

    def __init__(
        self,
        grid: torch.Tensor | np.ndarray,
        width: int | None = None,
        info: dict[str, Any] | None = None,
        source: str = "spectrum grid",
    ) -> None:
        self.grid = _as_grid(grid, source)
        self.width = _grid_width(self.grid.shape[-2], self.grid.shape[-1], width, source)
        self.info = dict(info or {})
        self._fit: ParametricSpectrum | None = None
        self._residual: torch.Tensor | None = None

    @property
    def channels(self) -> int:
        return int(self.grid.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        return int(self.grid.shape[1]), self.width

    def fit(self) -> ParametricSpectrum:
        """The parametric fit of this grid (computed once)."""
        if self._fit is None:
            self._fit = fit_parametric(self.grid, self.width)
            self._fit.info = dict(self.info, fitted_to=f"grid {self.size[0]}x{self.size[1]}")
        return self._fit

    def _log_residual(self) -> torch.Tensor:
        if self._residual is None:
            h, w = self.size
            fy, fx = frequency_grid(h, w)
            fx = fx.clone()
            fx[0, 0] = 1.0 / max(h, w)
            res = _log_grid(self.grid) - 0.5 * math.log(h * w) - self.fit().log_density(fy, fx)
            res[:, 0, 0] = 0.0  # DC is no point of the AC surface
            self._residual = res
        return self._residual

    def magnitude(self, height: int, width: int, channels: int = 3) -> torch.Tensor:
        """Magnitudes at H x W. Shape: (channels, H, W // 2 + 1) float32."""
        _check_request(height, width, channels)
        h, w = self.size
        if (height, width) == (h, w):
            return _select_channels(symmetrize_magnitude(self.grid, w), channels).float().contiguous()
        fy, fx = frequency_grid(height, width)
        fx = fx.clone()
        fx[0, 0] = 1.0 / max(height, width)
        log_ac = self.fit().log_density(fy, fx) + _interp_rfft(self._log_residual(), w, fy, fx)
        return _finish(log_ac, self.grid[:, 0, 0] / (h * w), height, width, channels)


def log_magnitude_correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pearson correlation of ln a and ln b over all non-DC bins of all channels.

    Shape:
        - a, b: (C, H, W // 2 + 1), positive.
    """
    keep = torch.ones(a.shape[-2:], dtype=torch.bool)
    keep[0, 0] = False
    x = torch.log(a.double())[:, keep].flatten()
    y = torch.log(b.double())[:, keep].flatten()
    return float(torch.corrcoef(torch.stack([x, y]))[0, 1])
