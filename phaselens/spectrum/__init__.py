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

A MACO image does not take `Spectrum.magnitude` at its own size directly:
`image_magnitude` resizes the spectrum's native grid (512 x 512 for the shipped
one) to the image's layout with an antialiased bilinear filter, as the MACO
authors do, which scored better at small sizes (module `resize`).

Two kinds of spectra are stored:

- `ParametricSpectrum` (``.json``): a smooth fit of ln A_c, exact at any size.
  The shipped default (``spectrum_default.json``) is one.
- `GridSpectrum` (``.npy``): an averaged |rfft2| grid (C, N, N // 2 + 1), as
  ``phaselens spectrum build`` writes and as the MACO reference is published.

Modules: `base` (the interface, the power law, shared checks and size
scaling), `parametric` (the smooth fit), `grid` (grid spectra and their
interpolation), `files` (the default, loading, saving), `build` (averaging an
image folder), `resize` (what a MACO image gets: `image_magnitude`).
Frequency grids and Hermitian helpers are in `phaselens.fourier`.
"""

from __future__ import annotations

from ..fourier import frequency_grid, radial_frequency
from .base import PowerLawSpectrum, Spectrum
from .build import build_spectrum
from .files import SUFFIXES, default_spectrum, load_spectrum, save_spectrum
from .grid import GridSpectrum, log_magnitude_correlation
from .parametric import FORMAT, VERSION, ParametricSpectrum, fit_parametric
from .resize import image_magnitude, native_size

__all__ = [
    "FORMAT",
    "SUFFIXES",
    "VERSION",
    "GridSpectrum",
    "ParametricSpectrum",
    "PowerLawSpectrum",
    "Spectrum",
    "build_spectrum",
    "default_spectrum",
    "fit_parametric",
    "frequency_grid",
    "image_magnitude",
    "load_spectrum",
    "log_magnitude_correlation",
    "native_size",
    "radial_frequency",
    "save_spectrum",
]
