"""Developer script: fit the shipped default spectrum (phaselens/spectrum_default.json).

The product never reads the reference: this script fits the few coefficients of
`phaselens.spectrum.ParametricSpectrum` to the ImageNet average magnitude
spectrum published with MACO (``../shared/reference/imagenet_magnitude_spectrum.npy``,
(3, 512, 257), see its README) and writes only those figures into the package.

It also prints how close the fit is: the correlation of log-magnitudes over
all non-DC bins at 224, 512 and 1024. At 512 the reference is used as is; at
other sizes it is resampled in frequency space, i.e. its log-magnitude is
interpolated (bilinearly, with scipy, independently of PhaseLens's own
resampler) at the same physical frequencies in cycles per pixel, the axis on
which PhaseLens defines every spectrum. Bins whose interpolation would touch
the reference's DC bin (a handful at 1024) are left out.

Usage:
    python scripts/fit_default_spectrum.py [--reference FILE] [--out FILE] [--dry-run]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from scipy.interpolate import RegularGridInterpolator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from phaselens.fourier import frequency_grid  # noqa: E402
from phaselens.spectrum import (  # noqa: E402
    GridSpectrum,
    ParametricSpectrum,
    fit_parametric,
    save_spectrum,
)

REFERENCE = ROOT.parent / "shared" / "reference" / "imagenet_magnitude_spectrum.npy"
SIZES = (224, 512, 1024)


def resample_log_reference(ref: np.ndarray, height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """ln |X| of the (C, N, N//2+1) reference at an H x W grid's frequencies, and the bins to compare.

    Returns (C, H, W//2+1) log-magnitudes and a (H, W//2+1) mask: non-DC bins
    whose bilinear stencil stays off the reference's DC bin.
    """
    c, n, nf = ref.shape
    log = np.log(ref.astype(np.float64))
    ky = np.fft.fftfreq(n) * n
    order = np.argsort(ky)
    log, ky = log[:, order], ky[order]
    log, ky = np.concatenate([log, log[:, :1]], axis=1), np.append(ky, -ky[0])  # +1/2 row = -1/2 row
    fy, fx = (t.numpy() for t in frequency_grid(height, width))
    pts = np.stack([np.clip(fy * n, ky[0], ky[-1]), np.clip(fx * n, 0, nf - 1)], axis=-1)
    out = np.stack([RegularGridInterpolator((ky, np.arange(nf)), log[i])(pts) for i in range(c)])
    near_dc = (np.abs(fy) * n < 1) & (fx * n < 1)
    keep = ~near_dc if (height, width) != (n, n) else (fy != 0) | (fx != 0)
    return out, keep


def correlations(spectrum, ref: np.ndarray, size: int) -> tuple[list[float], float]:
    """Per-channel and pooled correlation of log-magnitudes with the resampled reference."""
    target, keep = resample_log_reference(ref, size, size)
    mine = np.log(spectrum.magnitude(size, size, 3).double().numpy())
    per = [float(np.corrcoef(mine[c][keep], target[c][keep])[0, 1]) for c in range(3)]
    pooled = float(np.corrcoef(mine[:, keep].ravel(), target[:, keep].ravel())[0, 1])
    return per, pooled


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reference", type=Path, default=REFERENCE)
    ap.add_argument("--out", type=Path, default=ROOT / "phaselens" / "spectrum_default.json")
    ap.add_argument("--dry-run", action="store_true", help="fit and report, write nothing")
    args = ap.parse_args()
    ref = np.load(args.reference)
    assert ref.shape == (3, 512, 257), ref.shape
    fit: ParametricSpectrum = fit_parametric(torch.from_numpy(ref))
    grid = GridSpectrum(ref)
    report = {}
    for size in SIZES:
        per, pooled = correlations(fit, ref, size)
        report[str(size)] = dict(per_channel=[round(v, 4) for v in per], pooled=round(pooled, 4))
        print(f"{size:>5}: default vs reference  per channel {np.round(per, 4).tolist()}  pooled {pooled:.4f}")
        if size != 512:
            _per_g, pooled_g = correlations(grid, ref, size)
            print(f"{'':>5}  GridSpectrum(reference) resampler vs scipy bilinear  pooled {pooled_g:.4f}")
    fit.info = dict(
        source="least-squares fit (weight 1/f) to the ImageNet average magnitude spectrum published with MACO "
        "(Fel et al. 2023; Xplique, MIT), 3 x 512 x 257, decorrelated colour space",
        script="scripts/fit_default_spectrum.py",
        log_magnitude_correlation_with_reference=report,
    )
    if args.dry_run:
        return 0
    save_spectrum(fit, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
