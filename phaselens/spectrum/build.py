"""Average magnitude spectrum of an image folder, streamed with bounded memory.

Files are found by walking the folder lazily, decoded by a thread pool in small
chunks (Pillow's decoders and torch's FFT release the GIL, so threads work in
parallel without copying grids between processes), and each chunk comes back
as one summed grid. At most two chunks per worker are in flight, so memory does
not grow with the number of images.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..color import COLOR_MATRIX
from ..errors import PhaseLensError
from ..imagefiles import EXTENSIONS, iter_images, load_square
from .grid import GridSpectrum

# RGB in [0, 1] -> the decorrelated space MACO optimizes in (inverse of recorrelate).
DECORRELATE = torch.linalg.inv(COLOR_MATRIX.double()).float()
MAX_SKIPPED_LISTED = 20
# Decoded pixels per task: bigger batches FFT a little faster but glibc keeps
# more of each freed batch around (measured: 4 images of 256^2 ~ 100 MB peak).
CHUNK_BYTES = 3 << 20


def magnitude_sum(images: np.ndarray) -> np.ndarray:
    """Sum over a batch of |rfft2| in the decorrelated colour space.

    Shape:
        - images: (B, N, N, 3) RGB in [0, 1].
        - output: (3, N, N // 2 + 1) float64.
    """
    b, h, w, _ = images.shape
    rgb = torch.from_numpy(images).view(b, h * w, 3).transpose(1, 2)
    dec = torch.matmul(DECORRELATE, rgb).view(b, 3, h, w)  # a small matmul beats einsum's strided loop
    return torch.fft.rfft2(dec).abs().sum(0, dtype=torch.float64).numpy()


def _chunk_sum(paths: list[Path], size: int) -> tuple[np.ndarray | None, int, list[tuple[str, str]]]:
    """Worker: (summed grid or None, images used, [(path, reason)] skipped)."""
    images, skipped = [], []
    for p in paths:
        try:
            images.append(load_square(p, size))
        except Exception as err:  # noqa: BLE001 - any decoder failure means an unreadable file: skip it, say which
            skipped.append((str(p), f"{type(err).__name__}: {err}"))
    if not images:
        return None, 0, skipped
    return magnitude_sum(np.stack(images)), len(images), skipped


def _chunks(paths: Iterator[Path], n: int) -> Iterator[list[Path]]:
    chunk: list[Path] = []
    for p in paths:
        chunk.append(p)
        if len(chunk) == n:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def build_spectrum(
    folder: str | os.PathLike,
    size: int = 256,
    workers: int | None = None,
    progress: bool = True,
    extensions: Sequence[str] | None = None,
) -> GridSpectrum:
    """Average |rfft2| of every image under `folder`, in the decorrelated colour space.

    Each image (any size, grayscale or colour) is resized on its shorter side and
    centre-cropped to size x size, scaled to [0, 1], mapped through the inverse of
    `phaselens.color.COLOR_MATRIX`, and its rfft2 magnitude is added to a running
    sum. Unreadable files are skipped and counted in ``result.info``.

    Args:
        folder: searched recursively for `extensions` (default: `phaselens.imagefiles.EXTENSIONS`;
            hidden files skipped).
        size: side N of the square grid.
        workers: decoding threads (None or 0: min(4, CPU count)); torch runs one
            thread per worker meanwhile (its setting is restored afterwards).
        progress: show a tqdm bar on stderr.

    Returns:
        A `GridSpectrum` whose ``info`` has ``images``, ``skipped`` and
        ``skipped_files`` (the first few, with reasons).

    Shape:
        - result.grid: (3, size, size // 2 + 1) float64, the reference layout.
    """
    extensions = EXTENSIONS if extensions is None else extensions
    folder = Path(folder)
    if not folder.exists():
        raise PhaseLensError(f"image folder {folder} does not exist")
    if not folder.is_dir():
        raise PhaseLensError(f"{folder} is not a folder; give the folder that holds the images")
    if size < 8:
        raise PhaseLensError(f"spectrum size must be >= 8 pixels, got {size}")
    workers = workers or min(4, os.cpu_count() or 1)
    if workers < 1:
        raise PhaseLensError(f"workers must be >= 1, got {workers}")
    # A cheap first walk gives the progress bar its total; the second streams the paths.
    total = sum(1 for _ in iter_images(folder, extensions))
    if total == 0:
        raise PhaseLensError(f"no images under {folder} (looked for {', '.join(extensions)} in all subfolders)")
    chunk = max(1, min(16, CHUNK_BYTES // (size * size * 3 * 4)))
    acc = np.zeros((3, size, size // 2 + 1), dtype=np.float64)
    used = 0
    skipped: list[tuple[str, str]] = []
    n_skipped = 0

    def collect(fut: Future) -> None:
        nonlocal used, n_skipped
        grid, n, bad = fut.result()
        if grid is not None:
            np.add(acc, grid, out=acc)
        used += n
        n_skipped += len(bad)
        skipped.extend(bad[: max(0, MAX_SKIPPED_LISTED - len(skipped))])
        bar.update(n + len(bad))
        if n_skipped:
            bar.set_postfix(skipped=n_skipped)

    # The pool is the parallelism: one torch thread per worker, not a pool inside each.
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with (
            tqdm(total=total, unit="img", desc="spectrum", disable=not progress) as bar,
            ThreadPoolExecutor(workers, thread_name_prefix="spectrum") as pool,
        ):
            pending: set[Future] = set()
            for paths in _chunks(iter_images(folder, extensions), chunk):
                if len(pending) >= 2 * workers:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
                        collect(fut)
                pending.add(pool.submit(_chunk_sum, paths, size))
            for fut in pending:
                collect(fut)
    finally:
        torch.set_num_threads(torch_threads)
    if used == 0:
        first = f" (first: {skipped[0][0]}: {skipped[0][1]})" if skipped else ""
        raise PhaseLensError(f"none of the {n_skipped} image files under {folder} could be read{first}")
    info = dict(
        images=used,
        skipped=n_skipped,
        skipped_files=[f"{p}: {why}" for p, why in skipped],
        size=size,
        colour_space="decorrelated (inverse of phaselens.color.COLOR_MATRIX on RGB in [0, 1])",
    )
    return GridSpectrum(acc / used, width=size, info=info, source=f"spectrum of {folder}")
