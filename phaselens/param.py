"""Image parameterizations: MACO (phase only), Fourier 1/f (Lucid), plain pixels.

Each is an `nn.Module` holding the parameters of B images; calling it returns
the images in [0, 1] pixel space, shape (B, C, H, W). Build them with
`make_param`, which draws the initial parameters from per-image seeds.
"""

from __future__ import annotations

import torch
from torch import nn

from .color import recorrelate
from .errors import PhaseLensError
from .fourier import (
    antisymmetrize_phase,
    hermitian_columns,
    radial_frequency,
    symmetrize_magnitude,
)
from .rng import SeedGroups
from .spectrum import Spectrum, image_magnitude, load_spectrum

# antisymmetrize_phase, hermitian_columns and symmetrize_magnitude live in
# phaselens.fourier; they stay importable from here.
__all__ = [
    "METHODS",
    "FourierParam",
    "ImageParam",
    "MacoParam",
    "PixelParam",
    "antisymmetrize_phase",
    "hermitian_columns",
    "make_param",
    "symmetrize_magnitude",
]

METHODS = ("maco", "fourier", "pixel")


def _standardize(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Zero mean, unit std over each image's (C, H, W)."""
    std, mean = torch.std_mean(x, dim=tuple(range(1, x.ndim)), keepdim=True)
    return (x - mean) / (std + eps)


class ImageParam(nn.Module):
    """Base class: `forward()` gives (B, C, H, W) images in [0, 1]."""

    method = ""

    def __init__(self, batch: int, channels: int, height: int, width: int) -> None:
        super().__init__()
        self.batch, self.channels, self.height, self.width = batch, channels, height, width

    def decorrelated(self) -> torch.Tensor:
        """The image before colour recorrelation and sigmoid. Shape: (B, C, H, W)."""
        raise NotImplementedError

    def forward(self) -> torch.Tensor:
        return torch.sigmoid(recorrelate(self.decorrelated()))


# How far the mean colour moves per unit of its parameter, in std of the standardized
# image (NAdam at lr 1 moves the parameter about 1 per step). 0.5 beat 0.05 on transfer
# in a paired A/B on the zoo, n = 320 (+0.050 +- 0.046); 1.0 was worse (docs/benchmark.md).
MEAN_COLOUR_STEP = 0.5


class MacoParam(ImageParam):
    """MACO: x = sigmoid(colour(standardize(irfft2(r * exp(i * phi))) + m)), phi and m learned.

    The magnitude r is fixed, DC bin included, so the phases alone cannot move
    an image's mean colour. Horama lets the DC phase flip instead; here each
    image has a mean colour m of its own, (C,) in the decorrelated space, added
    after standardization (so |rfft2| of `raw()` is still exactly r). In a
    paired A/B on the zoo it raised the final objective, and at `MEAN_COLOUR_STEP`
    transfer to other models (docs/benchmark.md).

    Args:
        magnitude: fixed magnitude r, shape (C, H, W // 2 + 1).
        phase: initial phases, shape (B, C, H, W // 2 + 1).
        width: image width W (the rfft2 layout cannot tell odd from even).
    """

    method = "maco"

    def __init__(self, magnitude: torch.Tensor, phase: torch.Tensor, width: int) -> None:
        b, c, h, wf = phase.shape
        if magnitude.shape != (c, h, wf) or wf != width // 2 + 1:
            raise PhaseLensError(f"magnitude {tuple(magnitude.shape)} does not fit phase {tuple(phase.shape)}")
        super().__init__(b, c, h, width)
        self.magnitude: torch.Tensor
        self.register_buffer("magnitude", symmetrize_magnitude(magnitude.float(), width))
        self.phase = nn.Parameter(phase.float().clone())
        self.mean_colour = nn.Parameter(torch.zeros(b, c, 1, 1, device=phase.device))

    def spectrum(self) -> torch.Tensor:
        """The complex spectrum r * exp(i * phi) after phase standardization. (B, C, H, W//2+1)."""
        phase = _standardize(self.phase)
        phase = antisymmetrize_phase(phase, self.width)
        return torch.polar(self.magnitude.expand_as(phase), phase)

    def raw(self) -> torch.Tensor:
        """irfft2 of the spectrum, before standardization: its |rfft2| is the magnitude exactly."""
        return torch.fft.irfft2(self.spectrum(), s=(self.height, self.width))

    def decorrelated(self) -> torch.Tensor:
        return _standardize(self.raw()) + MEAN_COLOUR_STEP * self.mean_colour


class FourierParam(ImageParam):
    """Olah et al. (2017): the whole spectrum is learned, scaled by 1 / f^decay.

    Args:
        spectrum: initial real/imaginary parts, shape (B, C, H, W // 2 + 1, 2).
        width: image width W.
        decay: power of the 1/f scaling (1.0 in Lucid).
    """

    method = "fourier"

    def __init__(self, spectrum: torch.Tensor, width: int, decay: float = 1.0) -> None:
        b, c, h, _, _ = spectrum.shape
        super().__init__(b, c, h, width)
        f = radial_frequency(h, width).clamp_min(1.0 / max(h, width))
        self.scale: torch.Tensor
        self.register_buffer("scale", f.pow(-decay))
        self.spectrum = nn.Parameter(spectrum.float().clone())

    def decorrelated(self) -> torch.Tensor:
        spec = torch.view_as_complex(self.spectrum) * self.scale
        # Lucid divides by 4 to keep the initial image in the sigmoid's linear range.
        return torch.fft.irfft2(spec, s=(self.height, self.width), norm="ortho") / 4.0


class PixelParam(ImageParam):
    """The naive baseline: one free value per pixel, through a sigmoid (no colour matrix)."""

    method = "pixel"

    def __init__(self, pixels: torch.Tensor) -> None:
        super().__init__(*pixels.shape)
        self.pixels = nn.Parameter(pixels.float().clone())

    def decorrelated(self) -> torch.Tensor:
        return self.pixels

    def forward(self) -> torch.Tensor:
        return torch.sigmoid(self.pixels)


def make_param(
    method: str,
    rng: SeedGroups,
    size: tuple[int, int],
    channels: int = 3,
    spectrum: Spectrum | str | None = None,
    decay: float = 1.0,
) -> ImageParam:
    """Build B = len(rng.seeds) images of `method` with seeded initial parameters.

    Example:
        >>> p = make_param("maco", SeedGroups([0, 1]), (32, 48))
        >>> p().shape
        torch.Size([2, 3, 32, 48])
    """
    h, w = size
    if h < 2 or w < 2:
        raise PhaseLensError(f"image size must be at least 2 x 2, got {h} x {w}")
    if channels not in (1, 3):
        raise PhaseLensError(f"images have 1 or 3 channels, got {channels}")
    wf = w // 2 + 1
    if method == "maco":
        mag = image_magnitude(load_spectrum(spectrum), h, w, channels).to(rng.device)
        return MacoParam(mag, rng.randn((channels, h, wf)), w).to(rng.device)
    if method == "fourier":
        return FourierParam(rng.randn((channels, h, wf, 2)) * 0.01, w, decay).to(rng.device)
    if method == "pixel":
        return PixelParam(rng.randn((channels, h, w)) * 0.01).to(rng.device)
    raise PhaseLensError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
