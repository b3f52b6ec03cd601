"""Benchmark `build_spectrum`: throughput and peak memory on generated images.

Writes N JPEGs of 256 x 256 (crops of a few 1/f noise textures, so decoding
does real work) into a temporary folder: the first M in one subfolder, the rest
in another. Then builds the spectrum of the subfolder (M images) and of the
whole folder (N images), each in a fresh process, and prints images/second and
peak RSS. Flat memory shows as the same peak for M and N images.

Usage:
    python benchmarks/spectrum_build.py [--images 10000] [--small 1000] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def textures(count: int, side: int, seed: int = 0) -> list[np.ndarray]:
    """1/f noise RGB textures in uint8, (side, side, 3) each."""
    rng = np.random.default_rng(seed)
    f = np.hypot(np.fft.fftfreq(side)[:, None], np.fft.rfftfreq(side)[None]).clip(1.0 / side)
    out = []
    for _ in range(count):
        spec = (rng.standard_normal((3, side, side // 2 + 1)) + 1j * rng.standard_normal((3, side, side // 2 + 1))) / f
        x = np.fft.irfft2(spec, s=(side, side))
        x = (x - x.mean()) / (4 * x.std()) + 0.5
        out.append((x.transpose(1, 2, 0).clip(0, 1) * 255).astype(np.uint8))
    return out


def write_images(folder: Path, n: int, small: int, size: int) -> None:
    bases = textures(16, 2 * size)
    rng = np.random.default_rng(1)
    offsets = rng.integers(0, size, (n, 2))
    (folder / "small").mkdir(parents=True)
    (folder / "rest").mkdir()

    def write(i: int) -> None:
        y, x = offsets[i]
        crop = bases[i % len(bases)][y : y + size, x : x + size]
        sub = "small" if i < small else "rest"
        Image.fromarray(crop).save(folder / sub / f"{i:06d}.jpg", quality=90)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(write, range(n)))


def rss_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (peak) of this process, in MB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(folder: str, size: int, workers: int) -> None:
    """Child process: one build, one JSON line of results."""
    sys.path.insert(0, str(ROOT))
    from phaselens.spectrum import build_spectrum

    base = rss_mb("VmRSS")
    start = time.perf_counter()
    spec = build_spectrum(folder, size=size, workers=workers, progress=False)
    seconds = time.perf_counter() - start
    print(json.dumps(dict(images=spec.info["images"], seconds=seconds, base_mb=base, peak_mb=rss_mb("VmHWM"))))


def run_child(folder: Path, size: int, workers: int) -> dict:
    cmd = [sys.executable, __file__, "--measure", str(folder), "--size", str(size), "--workers", str(workers)]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, default=10000, help="N, all images (default 10000)")
    ap.add_argument("--small", type=int, default=1000, help="M, the smaller run (default 1000)")
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--measure", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        measure(args.measure, args.size, args.workers)
        return 0
    small = min(args.small, args.images)
    tmp = Path(tempfile.mkdtemp(prefix="phaselens-spectrum-bench-"))
    try:
        t0 = time.perf_counter()
        write_images(tmp, args.images, small, args.size)
        print(f"wrote {args.images} JPEGs of {args.size}x{args.size} in {time.perf_counter() - t0:.1f} s")
        runs = [("small", tmp / "small", 1), ("small", tmp / "small", args.workers), ("all", tmp, args.workers)]
        print(f"{'images':>7} {'workers':>7} {'seconds':>8} {'img/s':>7} {'RSS before MB':>14} {'peak RSS MB':>12}")
        for _, folder, workers in runs:
            r = run_child(folder, args.size, workers)
            print(
                f"{r['images']:>7} {workers:>7} {r['seconds']:>8.2f} {r['images'] / r['seconds']:>7.0f} "
                f"{r['base_mb']:>14.0f} {r['peak_mb']:>12.0f}"
            )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
