"""`phaselens spectrum build|show`: make a magnitude spectrum from images, and look at one."""

from __future__ import annotations

import argparse
import io
import math
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..errors import PhaseLensError
from ..io import atomic_write_bytes
from ..spectrum import (
    SUFFIXES,
    GridSpectrum,
    build_spectrum,
    load_spectrum,
    save_spectrum,
)
from .common import whole

ORDER = 60
PANEL = 256
PAD = 16
PLOT_H = 300
# Anchors of a dark-to-light map (perceptually ordered enough to read levels).
COLORMAP = np.array([[0, 0, 4], [60, 15, 110], [150, 40, 125], [230, 80, 95], [252, 170, 95], [252, 253, 191]])
CHANNEL_COLOURS = [(40, 40, 40), (215, 80, 30), (40, 110, 210)]
MAX_GRID = 4096  # a 3 x N x N grid of N = 4096 is 200 MB; larger sizes add nothing a 512 grid lacks
BAND = (1 / 128, 1 / 8)  # where the printed power-law slope is measured


def register(sub) -> None:
    p = sub.add_parser("spectrum", help="build a MACO magnitude spectrum from images, or show one")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    b = actions.add_parser("build", help="average |FFT| of every image in a folder (recursive)")
    b.add_argument("folder", help="folder of images (jpg, png, webp, ...; nested folders are searched)")
    b.add_argument(
        "--size",
        type=whole(8, MAX_GRID),
        default=256,
        help="grid side N: images are resized and cropped to N x N (default 256)",
    )
    b.add_argument("--out", required=True, help="output: .npy (3 x N x N//2+1 grid) or .json (fitted figures)")
    b.add_argument("--workers", type=whole(1), default=None, help="decoding threads (default: min(4, CPUs))")
    b.add_argument("--quiet", action="store_true", help="no progress bar")
    b.set_defaults(func=run_build)
    s = actions.add_parser("show", help="draw a spectrum's 2-D log image and radial profile to a PNG")
    s.add_argument("spectrum", help="a .npy or .json spectrum file, or 'default' for the shipped one")
    s.add_argument("--out", required=True, help="output PNG")
    s.add_argument(
        "--size", type=whole(8, MAX_GRID), default=None, help="evaluate at N x N (default: the grid's own size, or 512)"
    )
    s.set_defaults(func=run_show)


def run_build(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.suffix.lower() not in SUFFIXES:
        raise PhaseLensError(f"--out {out} should end in .npy (grid) or .json (fitted figures)")
    spec = build_spectrum(args.folder, size=args.size, workers=args.workers, progress=not args.quiet)
    info = spec.info
    if info["skipped"]:
        print(f"skipped {info['skipped']} unreadable files:", file=sys.stderr)
        for line in info["skipped_files"]:
            print(f"  {line}", file=sys.stderr)
        if info["skipped"] > len(info["skipped_files"]):
            print(f"  ... and {info['skipped'] - len(info['skipped_files'])} more", file=sys.stderr)
    save_spectrum(spec, out)
    print(
        f"averaged {info['images']} images at {args.size}x{args.size} ({info['skipped']} unreadable skipped) -> {out}"
    )
    return 0


def run_show(args: argparse.Namespace) -> int:
    out = Path(args.out)
    if out.suffix.lower() != ".png":
        raise PhaseLensError(f"--out {out} should end in .png")
    spec = load_spectrum(None if args.spectrum == "default" else args.spectrum)
    size = args.size or (spec.size[0] if isinstance(spec, GridSpectrum) and spec.size[0] == spec.size[1] else 512)
    mag = spec.magnitude(size, size, getattr(spec, "channels", 3)).double().numpy()

    buf = io.BytesIO()
    render(mag, size, title=f"{args.spectrum}  ({mag.shape[0]} x {size} x {size})").save(buf, format="PNG")
    atomic_write_bytes(out, buf.getvalue())
    slopes = ", ".join(f"ch{c} {s:.2f}" for c, s in enumerate(radial_slopes(mag, size)))
    print(f"wrote {out}: power-law slope of |X| over {BAND[0]:.3g}-{BAND[1]:.3g} cycles/px: {slopes}")
    return 0


def full_plane(mag: np.ndarray, width: int) -> np.ndarray:
    """rfft2 layout -> the whole centred plane, using |X[k]| = |X[-k]|.

    Shape:
        - mag: (C, H, W // 2 + 1); output: (C, H, W), DC at (H // 2, W // 2).
    """
    c, h, _ = mag.shape
    cols = np.arange(width)
    neg = cols > width // 2
    full = np.empty((c, h, width))
    full[..., ~neg] = mag
    full[..., neg] = mag[:, (-np.arange(h)) % h][..., width - cols[neg]]
    return np.fft.fftshift(full, axes=(-2, -1))


def radial_slopes(mag: np.ndarray, size: int) -> list[float]:
    """Least-squares slope of ln |X| against ln f within BAND, per channel."""
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None]
    f = np.hypot(fy, fx)
    keep = (f >= BAND[0]) & (f <= BAND[1])
    lf = np.log(f[keep])
    return [float(np.polyfit(lf, np.log(m[keep]), 1)[0]) for m in mag]


def _colourize(values: np.ndarray) -> np.ndarray:
    """[0, 1] -> (..., 3) uint8 through COLORMAP."""
    pos = np.clip(values, 0, 1) * (len(COLORMAP) - 1)
    i = np.minimum(pos.astype(int), len(COLORMAP) - 2)
    t = (pos - i)[..., None]
    return ((1 - t) * COLORMAP[i] + t * COLORMAP[i + 1]).astype(np.uint8)


def render(mag: np.ndarray, size: int, title: str = "") -> Image.Image:
    """One PNG: a centred 2-D log-magnitude panel per channel, and the radial profiles on log-log axes.

    Shape:
        - mag: (C, size, size // 2 + 1) magnitudes.
    """
    c = mag.shape[0]
    font = ImageFont.load_default()
    width = max(3, c) * (PANEL + PAD) + PAD
    canvas = Image.new("RGB", (width, 2 * PAD + PANEL + PAD + PLOT_H + 2 * PAD), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((PAD, 4), title, fill="black", font=font)
    log = np.log10(full_plane(mag, size))
    ac = np.ones(log.shape[1:], dtype=bool)
    ac[size // 2, size // 2] = False  # the DC would set the top of the scale alone
    for ch in range(c):
        lo, hi = np.percentile(log[ch][ac], 1), log[ch][ac].max()
        rgb = _colourize((log[ch] - lo) / max(hi - lo, 1e-12))
        panel = Image.fromarray(rgb).resize(
            (PANEL, PANEL), Image.Resampling.NEAREST if size < PANEL else Image.Resampling.BOX
        )
        x0 = PAD + ch * (PANEL + PAD)
        canvas.paste(panel, (x0, 2 * PAD))
        draw.text(
            (x0, 2 * PAD + PANEL + 2),
            f"ch{ch}: log10 |X| {lo:.1f} .. {hi:.1f} (centred, DC at middle)",
            fill="black",
            font=font,
        )
    _plot_profiles(draw, font, mag, size, (PAD + 40, 3 * PAD + PANEL + 10, width - PAD, 3 * PAD + PANEL + PLOT_H - 20))
    return canvas


def _plot_profiles(draw: ImageDraw.ImageDraw, font, mag: np.ndarray, size: int, box: tuple[int, int, int, int]) -> None:
    """Mean log10 |X| per log-spaced frequency band, each channel one line, on log-log axes."""
    x0, y0, x1, y1 = box
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None]
    f = np.hypot(fy, fx).ravel()
    ac = f > 0
    edges = np.geomspace(1.0 / size, math.sqrt(0.5) * 1.0001, 40)
    which = np.digitize(f[ac], edges) - 1
    centres = np.sqrt(edges[:-1] * edges[1:])
    curves = []
    for m in mag:
        lm = np.log10(m.ravel()[ac])
        sums = np.bincount(which, lm, minlength=len(edges))[: len(centres)]
        counts = np.bincount(which, minlength=len(edges))[: len(centres)]
        curves.append(np.where(counts > 0, sums / np.maximum(counts, 1), np.nan))
    lx = np.log10(centres)
    ymin, ymax = math.floor(np.nanmin(curves)), math.ceil(np.nanmax(curves))
    xmin, xmax = math.log10(1.0 / size), math.log10(math.sqrt(0.5))

    def px(a: float, b: float) -> tuple[float, float]:
        return (x0 + (a - xmin) / (xmax - xmin) * (x1 - x0), y1 - (b - ymin) / max(ymax - ymin, 1) * (y1 - y0))

    draw.rectangle((x0, y0, x1, y1), outline="black")
    for e in range(math.ceil(xmin), math.floor(xmax) + 1):
        x, _ = px(e, ymin)
        draw.line((x, y1, x, y1 + 4), fill="black")
        draw.text((x - 10, y1 + 6), f"1e{e}", fill="black", font=font)
    step = max(1, (ymax - ymin) // 8)
    for e in range(ymin, ymax + 1, step):
        _, y = px(xmin, e)
        draw.line((x0 - 4, y, x0, y), fill="black")
        draw.text((x0 - 36, y - 5), f"1e{e}", fill="black", font=font)
    draw.text(((x0 + x1) // 2 - 60, y1 + 18), "frequency (cycles/pixel)", fill="black", font=font)
    for ch, curve in enumerate(curves):
        ok = ~np.isnan(curve)
        pts = [px(a, b) for a, b in zip(lx[ok], curve[ok])]
        colour = CHANNEL_COLOURS[ch % len(CHANNEL_COLOURS)]
        draw.line(pts, fill=colour, width=2)
        draw.text((x1 - 150, y0 + 6 + 14 * ch), f"ch{ch}" + (" (luminance)" if ch == 0 else ""), fill=colour, font=font)
    # A 1/f guide through the first channel's first point, for judging the slope by eye.
    a0, b0 = lx[~np.isnan(curves[0])][0], curves[0][~np.isnan(curves[0])][0]
    draw.line([px(a0, b0), px(xmax, b0 - (xmax - a0))], fill=(160, 160, 160), width=1)
    draw.text((x1 - 150, y0 + 6 + 14 * len(curves)), "1/f guide", fill=(130, 130, 130), font=font)
