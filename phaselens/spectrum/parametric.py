"""`ParametricSpectrum`: a smooth fit of the log amplitude density, and `fit_parametric`.

The model's design features (`_features`) are shared by evaluation and the
least-squares fit, so both see exactly the same basis. The JSON form
(`to_dict` / `from_dict`) is tagged with `FORMAT` and `VERSION`.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from ..errors import PhaseLensError
from ..fourier import frequency_grid
from .base import Spectrum, _as_grid, _check_request, _finish, _grid_width, _log_grid

FORMAT = "phaselens-spectrum"
VERSION = 1


class ParametricSpectrum(Spectrum):
    """A smooth fit of the log amplitude density, exact at every size.

    With f = |(fy, fx)| in cycles per pixel, theta its orientation and
    x = (ln f - log_f_center) / log_f_scale, channel c has

        ln A_c = sum_d radial[c, d] x^d
               + sum_k sum_j angular[c, k - 1, j] x^j cos(2 k theta)
               + sum_p rolloff[c, p] ((2 |fx|)^p + (2 |fy|)^p)

    and DC magnitude per pixel exp(log_dc[c]). The radial polynomial is the
    1/f^alpha law and its bends; cos(2 k theta) terms are even under
    (fy, fx) -> (-fy, -fx), so the spectrum is symmetric by construction; the
    separable roll-off models what acts on rows and columns of the pixel grid
    (camera and resampling filters) and so lives at fixed cycles per pixel.
    Below f_min (the lowest frequency fitted) the radial part continues as a
    straight line in log-log (a power law) and the angular part stays put.

    Args:
        log_dc: (C,) ln of the DC magnitude per pixel (the channel mean).
        radial: (C, D + 1) polynomial coefficients, constant first.
        angular: (C, K, J + 1) coefficients of x^j cos(2 k theta), k = 1..K.
        rolloff: (C, P) coefficients of the separable roll-off.
        rolloff_powers: (P,) the powers p.
        log_f_center, log_f_scale, f_min: the frequency variable and its fitted range.
        info: free-form metadata (source, fit quality), kept in files.
    """

    def __init__(
        self,
        log_dc: Sequence[float] | torch.Tensor,
        radial: Sequence[Sequence[float]] | torch.Tensor,
        angular: Sequence[Sequence[Sequence[float]]] | torch.Tensor,
        rolloff: Sequence[Sequence[float]] | torch.Tensor,
        rolloff_powers: Sequence[float],
        log_f_center: float = -3.5,
        log_f_scale: float = 2.0,
        f_min: float = 1.0 / 512,
        info: dict[str, Any] | None = None,
    ) -> None:
        as64 = functools.partial(torch.as_tensor, dtype=torch.float64)
        self.log_dc, self.radial, self.angular, self.rolloff = (
            as64(log_dc),
            as64(radial),
            as64(angular),
            as64(rolloff),
        )
        self.rolloff_powers = as64(rolloff_powers)
        self.log_f_center, self.log_f_scale, self.f_min = float(log_f_center), float(log_f_scale), float(f_min)
        self.info = dict(info or {})
        c = self.log_dc.shape[0] if self.log_dc.ndim == 1 else -1
        ok = (
            c >= 1
            and self.radial.ndim == 2
            and self.radial.shape[0] == c
            and self.radial.shape[1] >= 2
            and self.angular.ndim == 3
            and self.angular.shape[0] == c
            and self.angular.shape[2] >= 1
            and self.rolloff.ndim == 2
            and self.rolloff.shape == (c, self.rolloff_powers.numel())
            and self.log_f_scale > 0
            and self.f_min > 0
        )
        if not ok:
            raise PhaseLensError(
                "inconsistent parametric spectrum: log_dc (C,), radial (C, D+1), angular (C, K, J+1), "
                f"rolloff (C, P) expected; got {tuple(self.log_dc.shape)}, {tuple(self.radial.shape)}, "
                f"{tuple(self.angular.shape)}, {tuple(self.rolloff.shape)}"
            )
        values = [self.log_dc, self.radial, self.angular, self.rolloff, self.rolloff_powers]
        if not all(bool(torch.isfinite(v).all()) for v in values):
            raise PhaseLensError("parametric spectrum has non-finite coefficients")

    @property
    def channels(self) -> int:
        return int(self.log_dc.shape[0])

    def log_density(self, fy: torch.Tensor, fx: torch.Tensor) -> torch.Tensor:
        """ln A_c at frequencies (fy, fx) in cycles per pixel, f > 0.

        Shape:
            - fy, fx: any shape S (float64).
            - output: (C, *S).
        """
        rad, ang, roll = _features(
            fy,
            fx,
            self.log_f_center,
            self.log_f_scale,
            self.f_min,
            self.radial.shape[1] - 1,
            self.angular.shape[1],
            self.angular.shape[2] - 1,
            self.rolloff_powers,
        )
        out = torch.einsum("cd,d...->c...", self.radial, rad[0])
        # Below f_min the polynomial gives way to its tangent line: a power law.
        out = out + torch.einsum("cd,d...->c...", self.radial, rad[1])
        out = out + torch.einsum("ckj,kj...->c...", self.angular, ang)
        return out + torch.einsum("cp,p...->c...", self.rolloff, roll)

    def magnitude(self, height: int, width: int, channels: int = 3) -> torch.Tensor:
        """Magnitudes at H x W. Shape: (channels, H, W // 2 + 1) float32."""
        _check_request(height, width, channels)
        fy, fx = frequency_grid(height, width)
        fy, fx = fy.clone(), fx.clone()
        fx[0, 0] = self.f_min  # DC is set apart below; avoid ln 0 here.
        log_ac = self.log_density(fy, fx)
        return _finish(log_ac, self.log_dc.exp(), height, width, channels)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (see docs/spectrum.md)."""
        chans = [
            dict(
                log_dc=float(self.log_dc[c]),
                radial=self.radial[c].tolist(),
                angular=self.angular[c].tolist(),
                rolloff=self.rolloff[c].tolist(),
            )
            for c in range(self.channels)
        ]
        return dict(
            format=FORMAT,
            version=VERSION,
            kind="parametric",
            model=(
                "ln A = sum_d radial[d] x^d + sum_k sum_j angular[k-1][j] x^j cos(2 k theta)"
                " + sum_p rolloff[p] ((2|fx|)^p + (2|fy|)^p), x = (ln f - log_f_center) / log_f_scale;"
                " radial part linear in x below f_min; |X| = sqrt(H W) A, DC = H W exp(log_dc)"
            ),
            log_f_center=self.log_f_center,
            log_f_scale=self.log_f_scale,
            f_min=self.f_min,
            rolloff_powers=self.rolloff_powers.tolist(),
            channels=chans,
            info=self.info,
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "spectrum") -> ParametricSpectrum:
        """Inverse of `to_dict`; any missing or malformed field is a `PhaseLensError`."""
        if not isinstance(d, dict) or d.get("format") != FORMAT or d.get("kind") != "parametric":
            raise PhaseLensError(f"{source} is not a PhaseLens parametric spectrum (format {FORMAT!r})")
        if d.get("version") != VERSION:
            raise PhaseLensError(
                f"{source} has spectrum format version {d.get('version')!r}; this PhaseLens reads {VERSION}"
            )
        try:
            chans = d["channels"]
            return cls(
                log_dc=[c["log_dc"] for c in chans],
                radial=[c["radial"] for c in chans],
                angular=[c["angular"] for c in chans],
                rolloff=[c["rolloff"] for c in chans],
                rolloff_powers=d["rolloff_powers"],
                log_f_center=d["log_f_center"],
                log_f_scale=d["log_f_scale"],
                f_min=d["f_min"],
                info=d.get("info"),
            )
        except (KeyError, TypeError, ValueError, RuntimeError) as err:
            if isinstance(err, PhaseLensError):
                raise PhaseLensError(f"{source}: {err}") from None
            raise PhaseLensError(f"{source} is a malformed parametric spectrum ({type(err).__name__}: {err})") from None


def _features(fy, fx, center, scale, f_min, degree, harmonics, angular_degree, powers):
    """Design tensors of the parametric model at (fy, fx), f > 0.

    Returns ((poly, tangent), angular, rolloff): poly (D+1, *S) holds x_c^d with x
    clamped at f_min, tangent (D+1, *S) the d x_c^(d-1) (x - x_c) correction that
    extends it linearly below; angular (K, J+1, *S); rolloff (P, *S).
    """
    f = torch.sqrt(fy**2 + fx**2)
    x = (torch.log(f) - center) / scale
    x_lo = (math.log(f_min) - center) / scale
    xc = x.clamp_min(x_lo)
    d = torch.arange(degree + 1, dtype=torch.float64).view(-1, *[1] * x.ndim)
    poly = xc.unsqueeze(0) ** d
    tangent = d * xc.unsqueeze(0) ** (d - 1).clamp_min(0) * (x - xc).unsqueeze(0)
    theta = torch.atan2(fy, fx)
    k = torch.arange(1, harmonics + 1, dtype=torch.float64).view(-1, *[1] * x.ndim)
    cos = torch.cos(2 * k * theta.unsqueeze(0))  # (K, *S)
    j = torch.arange(angular_degree + 1, dtype=torch.float64).view(-1, *[1] * x.ndim)
    angular = cos.unsqueeze(1) * (xc.unsqueeze(0) ** j).unsqueeze(0)
    p = torch.as_tensor(powers, dtype=torch.float64).view(-1, *[1] * x.ndim)
    rolloff = (2 * fx.abs()).unsqueeze(0) ** p + (2 * fy.abs()).unsqueeze(0) ** p
    return (poly, tangent), angular, rolloff


def fit_parametric(
    grid: torch.Tensor | np.ndarray,
    width: int | None = None,
    radial_degree: int = 4,
    harmonics: int = 2,
    angular_degree: int = 1,
    rolloff_powers: Sequence[float] = (2, 4, 8, 16, 32),
    weight_power: float = 1.0,
    log_f_center: float = -3.5,
    log_f_scale: float = 2.0,
) -> ParametricSpectrum:
    """Least-squares fit of `ParametricSpectrum` to an |rfft2| grid's log-magnitudes.

    Every non-DC bin counts with weight f^-weight_power: bins per octave grow as
    f^2, and 1/f keeps the few low-frequency bins (which carry most of an
    image's energy) from being drowned out without letting them dominate.

    Args:
        grid: non-negative magnitudes, (C, H, W // 2 + 1) or (H, W // 2 + 1).
        width: image width W (default: the square layout, W = H).

    Shape:
        - grid: (C, H, W // 2 + 1); the result has C channels.
    """
    g = _as_grid(grid, "grid")
    c, h, wf = g.shape
    width = _grid_width(h, wf, width, "grid")
    fy, fx = frequency_grid(h, width)
    keep = (fy != 0) | (fx != 0)
    fy, fx = fy[keep], fx[keep]
    (poly, _), ang, roll = _features(
        fy, fx, log_f_center, log_f_scale, 1.0 / max(h, width), radial_degree, harmonics, angular_degree, rolloff_powers
    )
    design = torch.cat([poly, ang.flatten(0, 1), roll]).T  # (bins, features)
    target = (_log_grid(g) - 0.5 * math.log(h * width))[:, keep].T  # ln A per bin, (bins, C)
    sw = torch.sqrt(fy**2 + fx**2).pow(-weight_power / 2).unsqueeze(1)
    coef = torch.linalg.lstsq(design * sw, target * sw, driver="gelsd").solution.T  # (C, features)
    nd, na = poly.shape[0], ang.shape[0] * ang.shape[1]
    dc = g[:, 0, 0].clamp_min(g[g > 0].min()) / (h * width)
    return ParametricSpectrum(
        log_dc=dc.log(),
        radial=coef[:, :nd],
        angular=coef[:, nd : nd + na].reshape(c, harmonics, -1),
        rolloff=coef[:, nd + na :],
        rolloff_powers=rolloff_powers,
        log_f_center=log_f_center,
        log_f_scale=log_f_scale,
        f_min=1.0 / max(h, width),
    )
