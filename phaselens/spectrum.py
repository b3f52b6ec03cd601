"""The natural-image magnitude spectrum that MACO keeps fixed.

A `Spectrum` yields the Fourier magnitude for any image size and channel count
in the rfft2 layout (C, H, W // 2 + 1), rows following ``fftfreq(H)`` and
columns ``rfftfreq(W)``, in the decorrelated colour space the MACO
parameterization optimizes in.
"""

from __future__ import annotations

import torch


class Spectrum:
    """Interface: `magnitude(height, width, channels)` -> (C, H, W // 2 + 1) float32."""

    def magnitude(self, height: int, width: int, channels: int = 3) -> torch.Tensor:
        raise NotImplementedError


def radial_frequency(height: int, width: int) -> torch.Tensor:
    """|f| in cycles per pixel on the rfft2 grid. Shape: (H, W // 2 + 1)."""
    fy = torch.fft.fftfreq(height).view(-1, 1)
    fx = torch.fft.rfftfreq(width).view(1, -1)
    return torch.sqrt(fy**2 + fx**2)


class PowerLawSpectrum(Spectrum):
    """1 / f^alpha magnitude, the same for every channel (a simple natural-image prior)."""

    def __init__(self, alpha: float = 1.2) -> None:
        self.alpha = float(alpha)

    def magnitude(self, height: int, width: int, channels: int = 3) -> torch.Tensor:
        f = radial_frequency(height, width).clamp_min(1.0 / max(height, width))
        mag = f.pow(-self.alpha)
        return mag.expand(channels, -1, -1).contiguous().float()


def default_spectrum() -> Spectrum:
    """The spectrum shipped with PhaseLens."""
    return PowerLawSpectrum()


def load_spectrum(spec: "Spectrum | str | None") -> Spectrum:
    """A `Spectrum` from an instance, a file path, or None (the shipped default)."""
    if spec is None:
        return default_spectrum()
    if isinstance(spec, Spectrum):
        return spec
    from .errors import PhaseLensError

    raise PhaseLensError(f"cannot load spectrum {spec!r}: spectrum files are not supported yet")
