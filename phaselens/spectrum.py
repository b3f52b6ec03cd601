"""The natural-image magnitude spectrum that MACO keeps fixed.

A `Spectrum` yields the Fourier magnitude for any image size and channel count
in the rfft2 layout (C, H, W // 2 + 1), rows following ``fftfreq(H)`` and
columns ``rfftfreq(W)``, in the decorrelated colour space the MACO
parameterization optimizes in.

A spectrum is a function of physical frequency (fy, fx) in cycles per pixel, so
resizing never stretches it. For an H x W request a non-DC bin gets
``sqrt(H * W) * A_c(fy, fx)`` and the DC bin ``H * W * m_c``: the expected
|rfft2| of H x W crops of images whose channel c has amplitude spectral density
A_c and mean m_c. The ratio of every bin to every other is then the same at all
sizes wherever the frequencies coincide.

Two kinds of spectra are stored:

- `ParametricSpectrum` (``.json``): a smooth fit of ln A_c, exact at any size.
  The shipped default (``spectrum_default.json``) is one.
- `GridSpectrum` (``.npy``): an averaged |rfft2| grid (C, N, N // 2 + 1), as
  ``phaselens spectrum build`` writes and as the MACO reference is published.
"""

from __future__ import annotations

import functools
import io
import json
import math
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .errors import PhaseLensError

FORMAT = "phaselens-spectrum"
VERSION = 1
SUFFIXES = (".json", ".npy")


class Spectrum:
    """Interface: `magnitude(height, width, channels)` -> (C, H, W // 2 + 1) float32."""

    def magnitude(self, height: int, width: int, channels: int = 3) -> torch.Tensor:
        raise NotImplementedError


def radial_frequency(height: int, width: int) -> torch.Tensor:
    """|f| in cycles per pixel on the rfft2 grid. Shape: (H, W // 2 + 1)."""
    fy = torch.fft.fftfreq(height).view(-1, 1)
    fx = torch.fft.rfftfreq(width).view(1, -1)
    return torch.sqrt(fy**2 + fx**2)


def frequency_grid(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(fy, fx) in cycles per pixel on the rfft2 grid, float64. Shape: two (H, W // 2 + 1)."""
    fy = torch.fft.fftfreq(height, dtype=torch.float64).view(-1, 1)
    fx = torch.fft.rfftfreq(width, dtype=torch.float64).view(1, -1)
    return torch.broadcast_tensors(fy, fx)


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


def symmetrize(mag: torch.Tensor, width: int) -> torch.Tensor:
    """Average |X[fy, fx]| with |X[-fy, -fx]| where both lie in the rfft2 layout.

    Only the DC column and, for even W, the Nyquist column hold such pairs; a
    real image's spectrum is symmetric there.

    Shape:
        - mag: (C, H, W // 2 + 1); output: same.
    """
    h = mag.shape[-2]
    rows = (-torch.arange(h)) % h
    out = mag.clone()
    for col in [0, width // 2] if width % 2 == 0 else [0]:
        out[..., col] = (mag[..., col] + mag[..., rows, col]) / 2
    return out


def _finish(log_ac: torch.Tensor, dc: torch.Tensor, height: int, width: int, channels: int) -> torch.Tensor:
    """ln A (C, H, W') and DC means (C,) -> float32 magnitudes with the size scaling of the module doc."""
    mag = math.sqrt(height * width) * torch.exp(log_ac)
    mag[:, 0, 0] = height * width * dc
    return _select_channels(symmetrize(mag, width), channels).float().contiguous()


class PowerLawSpectrum(Spectrum):
    """1 / f^alpha magnitude, the same for every channel (a simple natural-image prior)."""

    def __init__(self, alpha: float = 1.2) -> None:
        self.alpha = float(alpha)

    def magnitude(self, height: int, width: int, channels: int = 3) -> torch.Tensor:
        f = radial_frequency(height, width).clamp_min(1.0 / max(height, width))
        mag = f.pow(-self.alpha)
        return mag.expand(channels, -1, -1).contiguous().float()


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
            as64(log_dc), as64(radial), as64(angular), as64(rolloff))
        self.rolloff_powers = as64(rolloff_powers)
        self.log_f_center, self.log_f_scale, self.f_min = float(log_f_center), float(log_f_scale), float(f_min)
        self.info = dict(info or {})
        c = self.log_dc.shape[0] if self.log_dc.ndim == 1 else -1
        ok = (
            c >= 1 and self.radial.ndim == 2 and self.radial.shape[0] == c and self.radial.shape[1] >= 2
            and self.angular.ndim == 3 and self.angular.shape[0] == c and self.angular.shape[2] >= 1
            and self.rolloff.ndim == 2 and self.rolloff.shape == (c, self.rolloff_powers.numel())
            and self.log_f_scale > 0 and self.f_min > 0
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
        rad, ang, roll = _features(fy, fx, self.log_f_center, self.log_f_scale, self.f_min,
                                   self.radial.shape[1] - 1, self.angular.shape[1],
                                   self.angular.shape[2] - 1, self.rolloff_powers)
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
            dict(log_dc=float(self.log_dc[c]), radial=self.radial[c].tolist(),
                 angular=self.angular[c].tolist(), rolloff=self.rolloff[c].tolist())
            for c in range(self.channels)
        ]
        return dict(
            format=FORMAT, version=VERSION, kind="parametric",
            model=("ln A = sum_d radial[d] x^d + sum_k sum_j angular[k-1][j] x^j cos(2 k theta)"
                   " + sum_p rolloff[p] ((2|fx|)^p + (2|fy|)^p), x = (ln f - log_f_center) / log_f_scale;"
                   " radial part linear in x below f_min; |X| = sqrt(H W) A, DC = H W exp(log_dc)"),
            log_f_center=self.log_f_center, log_f_scale=self.log_f_scale, f_min=self.f_min,
            rolloff_powers=self.rolloff_powers.tolist(), channels=chans, info=self.info,
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "spectrum") -> "ParametricSpectrum":
        """Inverse of `to_dict`; any missing or malformed field is a `PhaseLensError`."""
        if not isinstance(d, dict) or d.get("format") != FORMAT or d.get("kind") != "parametric":
            raise PhaseLensError(f"{source} is not a PhaseLens parametric spectrum (format {FORMAT!r})")
        if d.get("version") != VERSION:
            raise PhaseLensError(f"{source} has spectrum format version {d.get('version')!r}; this PhaseLens reads {VERSION}")
        try:
            chans = d["channels"]
            return cls(
                log_dc=[c["log_dc"] for c in chans], radial=[c["radial"] for c in chans],
                angular=[c["angular"] for c in chans], rolloff=[c["rolloff"] for c in chans],
                rolloff_powers=d["rolloff_powers"], log_f_center=d["log_f_center"],
                log_f_scale=d["log_f_scale"], f_min=d["f_min"], info=d.get("info"),
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


def _grid_width(height: int, columns: int, width: int | None, source: str) -> int:
    """Image width of an rfft2 grid: given, or the square layout (C, N, N // 2 + 1)."""
    if width is None:
        if height // 2 + 1 != columns:
            raise PhaseLensError(
                f"{source} has {height} rows and {columns} columns; the square rfft2 layout has N rows and "
                f"N//2+1 columns, e.g. (3, 512, 257) (a full or fftshifted plane is not accepted)")
        return height
    if width // 2 + 1 != columns:
        raise PhaseLensError(f"{source}: width {width} does not match {columns} rfft2 columns")
    return width


def _log_grid(grid: torch.Tensor) -> torch.Tensor:
    """ln of a non-negative grid, exact zeros raised to its smallest positive value."""
    positive = grid[grid > 0]
    return torch.log(grid.clamp_min(positive.min()))


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
    (poly, _), ang, roll = _features(fy, fx, log_f_center, log_f_scale, 1.0 / max(h, width),
                                     radial_degree, harmonics, angular_degree, rolloff_powers)
    design = torch.cat([poly, ang.flatten(0, 1), roll]).T  # (bins, features)
    target = (_log_grid(g) - 0.5 * math.log(h * width))[:, keep].T  # ln A per bin, (bins, C)
    sw = torch.sqrt(fy**2 + fx**2).pow(-weight_power / 2).unsqueeze(1)
    coef = torch.linalg.lstsq(design * sw, target * sw, driver="gelsd").solution.T  # (C, features)
    nd, na = poly.shape[0], ang.shape[0] * ang.shape[1]
    dc = g[:, 0, 0].clamp_min(g[g > 0].min()) / (h * width)
    return ParametricSpectrum(
        log_dc=dc.log(), radial=coef[:, :nd], angular=coef[:, nd:nd + na].reshape(c, harmonics, -1),
        rolloff=coef[:, nd + na:], rolloff_powers=rolloff_powers, log_f_center=log_f_center,
        log_f_scale=log_f_scale, f_min=1.0 / max(h, width),
    )


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
    return ((1 - a) * (1 - b) * v[:, i, j] + a * (1 - b) * v[:, i + 1, j]
            + (1 - a) * b * v[:, i, j + 1] + a * b * v[:, i + 1, j + 1])


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

    def __init__(self, grid: torch.Tensor | np.ndarray, width: int | None = None,
                 info: dict[str, Any] | None = None, source: str = "spectrum grid") -> None:
        self.grid = _as_grid(grid, source)
        self.width = _grid_width(*self.grid.shape[-2:], width, source)
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
            return _select_channels(symmetrize(self.grid, w), channels).float().contiguous()
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


@functools.lru_cache(maxsize=1)
def default_spectrum() -> ParametricSpectrum:
    """The spectrum shipped with PhaseLens: a fit to the ImageNet average (spectrum_default.json)."""
    from importlib import resources

    try:
        text = resources.files("phaselens").joinpath("spectrum_default.json").read_text()
    except OSError as err:  # a broken install
        raise PhaseLensError(f"the shipped spectrum_default.json is missing ({err}); reinstall phaselens") from None
    return ParametricSpectrum.from_dict(json.loads(text), source="spectrum_default.json")


def load_spectrum(spec: "Spectrum | str | os.PathLike | None") -> Spectrum:
    """A `Spectrum` from an instance, a file path, or None (the shipped default).

    Files: ``.json`` (a parametric spectrum) or ``.npy`` (an |rfft2| grid of
    shape (C, H, W // 2 + 1), C in {1, 3}, such as the published MACO one).
    """
    if spec is None:
        return default_spectrum()
    if isinstance(spec, Spectrum):
        return spec
    if not isinstance(spec, (str, os.PathLike)):
        raise PhaseLensError(f"a spectrum is a Spectrum, a file path or None, not {type(spec).__name__}")
    path = Path(spec)
    if path.suffix.lower() not in SUFFIXES:
        raise PhaseLensError(f"spectrum file {path} should end in .json (parametric) or .npy (rfft2 grid)")
    if not path.is_file():
        raise PhaseLensError(f"spectrum file {path} does not exist; make one with `phaselens spectrum build`")
    try:
        if path.suffix.lower() == ".npy":
            return GridSpectrum(np.load(path, allow_pickle=False), source=f"spectrum file {path}")
        data = json.loads(path.read_text())
    except PhaseLensError:
        raise
    except (OSError, ValueError, EOFError) as err:
        raise PhaseLensError(f"cannot read spectrum file {path}: {err}") from None
    return ParametricSpectrum.from_dict(data, source=f"spectrum file {path}")


def save_spectrum(spectrum: Spectrum, path: str | os.PathLike, size: int | None = None) -> None:
    """Write a spectrum atomically: ``.npy`` as an |rfft2| grid, ``.json`` as fitted figures.

    A `GridSpectrum` saves its own grid unless `size` asks for another; any other
    spectrum needs `size` for ``.npy``. For ``.json`` a grid is fitted first.
    """
    from .io import atomic_write_bytes, atomic_write_json

    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise PhaseLensError(f"spectrum output {path} should end in .json (parametric) or .npy (rfft2 grid)")
    if suffix == ".json":
        fit = spectrum.fit() if isinstance(spectrum, GridSpectrum) else spectrum
        if not isinstance(fit, ParametricSpectrum):
            raise PhaseLensError(f"{type(spectrum).__name__} has no parametric form; save it as .npy")
        atomic_write_json(path, fit.to_dict())
        return
    if isinstance(spectrum, GridSpectrum) and (size is None or (size, size) == spectrum.size):
        grid = spectrum.grid
    elif size is None:
        raise PhaseLensError("saving this spectrum as .npy needs a size")
    else:
        grid = spectrum.magnitude(size, size, getattr(spectrum, "channels", 3))
    buf = io.BytesIO()
    np.save(buf, grid.float().numpy())
    atomic_write_bytes(path, buf.getvalue())


def build_spectrum(
    folder: str | os.PathLike,
    size: int = 256,
    workers: int | None = None,
    progress: bool = True,
    extensions: Sequence[str] | None = None,
) -> GridSpectrum:
    """Average |rfft2| of every image under `folder` (recursive), in the decorrelated colour space.

    See `phaselens.spectrum_build.build_spectrum` (the streaming code lives there).

    Shape:
        - result.grid: (3, size, size // 2 + 1).
    """
    from . import spectrum_build

    exts = spectrum_build.EXTENSIONS if extensions is None else extensions
    return spectrum_build.build_spectrum(folder, size=size, workers=workers, progress=progress, extensions=exts)
