"""Spectrum files: the shipped default, loading (``.json`` or ``.npy``) and atomic saving."""

from __future__ import annotations

import functools
import io
import json
import os
from importlib import resources
from pathlib import Path

import numpy as np

from ..errors import PhaseLensError
from ..io import atomic_write_bytes, atomic_write_json
from .base import Spectrum
from .grid import GridSpectrum
from .parametric import ParametricSpectrum

SUFFIXES = (".json", ".npy")


@functools.lru_cache(maxsize=1)
def default_spectrum() -> ParametricSpectrum:
    """The spectrum shipped with PhaseLens: a fit to the ImageNet average (spectrum_default.json)."""
    try:
        text = resources.files("phaselens").joinpath("spectrum_default.json").read_text()
    except OSError as err:  # a broken install
        raise PhaseLensError(f"the shipped spectrum_default.json is missing ({err}); reinstall phaselens") from None
    return ParametricSpectrum.from_dict(json.loads(text), source="spectrum_default.json")


def load_spectrum(spec: Spectrum | str | os.PathLike | None) -> Spectrum:
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
