"""Saving images: PNG, RGBA PNG with transparency as alpha, grids. Writes are atomic."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from .errors import PhaseLensError


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: readers never see half a file.

    Raises:
        PhaseLensError: naming the path and the reason (disk full, read-only, not a folder, ...);
            the temporary file is removed, and an older file at `path` is left as it was.
    """
    path = Path(path)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        # mkstemp makes private (0600) files; give the usual permissions so sites can be served.
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as err:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError):
            raise PhaseLensError(f"cannot write {path}: {_reason(err)}") from None
        raise


def _reason(err: OSError) -> str:
    return err.strerror or str(err) or type(err).__name__


def _missing_parents(path: Path) -> list[Path]:
    """`path` and its ancestors that do not exist yet, deepest first."""
    missing = []
    while not path.exists() and path != path.parent:
        missing.append(path)
        path = path.parent
    return missing


@contextlib.contextmanager
def output_folder(path: str | os.PathLike, what: str = "--out") -> Iterator[Path]:
    """Create the output folder `path` (checking that it can be one) for the block's writes.

    If the block raises a `PhaseLensError` (bad input found later, a run refused), the
    folders made here are removed again when still empty, so a refused run leaves nothing.

    Raises:
        PhaseLensError: `path` or one of its parents is a file, or it cannot be created or written.
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise PhaseLensError(f"{what} {path} exists and is not a folder; give a folder path")
    missing = _missing_parents(path)
    base = (missing[-1] if missing else path).parent
    if missing and base.exists() and not base.is_dir():
        raise PhaseLensError(f"{what} {path}: {base} is a file, not a folder; give a folder path")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".write-test.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as err:
        _remove_empty(missing)
        raise PhaseLensError(f"cannot use {what} {path} as an output folder: {_reason(err)}") from None
    try:
        yield path
    except PhaseLensError:
        _remove_empty(missing)
        raise


def _remove_empty(folders: list[Path]) -> None:
    for folder in folders:  # deepest first
        try:
            folder.rmdir()
        except OSError:
            return


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """(C, H, W) in [0, 1] -> (H, W, C) uint8 (C squeezed for grayscale)."""
    arr = (image.detach().float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    arr = arr.transpose(1, 2, 0)
    return arr[..., 0] if arr.shape[-1] == 1 else arr


def _png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def transparency_alpha(transparency: torch.Tensor, percentile: float = 99.0) -> torch.Tensor:
    """Accumulated gradients -> alpha in [0, 1], as in the MACO paper.

    Mean over channels, divided by each image's `percentile`-th value and
    clipped, so a few extreme pixels do not make everything else transparent.

    Shape:
        - transparency: (B, C, H, W) or (C, H, W)
        - output: (B, 1, H, W) or (1, H, W)
    """
    single = transparency.ndim == 3
    t = transparency[None] if single else transparency
    a = t.float().abs().mean(dim=1, keepdim=True)
    top = torch.quantile(a.flatten(1), percentile / 100.0, dim=1).clamp_min(1e-12)
    a = (a / top.view(-1, 1, 1, 1)).clamp(0, 1)
    return a[0] if single else a


def save_png(image: torch.Tensor, path: str | os.PathLike) -> None:
    """Save one (C, H, W) image in [0, 1]."""
    atomic_write_bytes(path, _png_bytes(to_uint8(image)))


def save_rgba(image: torch.Tensor, alpha: torch.Tensor, path: str | os.PathLike) -> None:
    """Save one (C, H, W) image with a (1, H, W) alpha mask as an RGBA PNG."""
    rgb = image.expand(3, -1, -1) if image.shape[0] == 1 else image
    atomic_write_bytes(path, _png_bytes(to_uint8(torch.cat([rgb, alpha.to(rgb.dtype)], dim=0))))


def make_grid(images: torch.Tensor, ncol: int | None = None, pad: int = 2) -> torch.Tensor:
    """Tile (B, C, H, W) images into one (C, H', W') image on a white background."""
    b, c, h, w = images.shape
    ncol = ncol or math.ceil(math.sqrt(b))
    nrow = math.ceil(b / ncol)
    grid = torch.ones(c, nrow * (h + pad) + pad, ncol * (w + pad) + pad)
    for i in range(b):
        r, col = divmod(i, ncol)
        y, x = pad + r * (h + pad), pad + col * (w + pad)
        grid[:, y : y + h, x : x + w] = images[i].float().cpu()
    return grid


def save_grid(images: torch.Tensor, path: str | os.PathLike, ncol: int | None = None) -> None:
    save_png(make_grid(images, ncol), path)


def save_result(result, out_dir: str | os.PathLike, names: Sequence[str] | None = None) -> list[str]:
    """NAME.png, NAME_rgba.png per image and grid.png; returns the written paths."""
    out = Path(out_dir)
    names = list(names) if names is not None else [f"image_{i:03d}" for i in range(len(result.images))]
    alpha = result.alpha()
    paths = []
    for img, a, name in zip(result.images, alpha, names):
        save_png(img, out / f"{name}.png")
        save_rgba(img, a, out / f"{name}_rgba.png")
        paths += [str(out / f"{name}.png"), str(out / f"{name}_rgba.png")]
    save_grid(result.images, out / "grid.png")
    paths.append(str(out / "grid.png"))
    return paths


def read_json(path: Path) -> Any | None:
    """A JSON file's content, or None when missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def remove_temp_files(folder: Path) -> int:
    """Delete the hidden ``.*.tmp`` files a killed writer left in `folder` (and below); returns the count."""
    count = 0
    if folder.is_dir():
        for path in folder.rglob(".*.tmp"):
            path.unlink(missing_ok=True)
            count += 1
    return count


def save_thumb(image: torch.Tensor, path: Path, side: int = 160) -> None:
    """A JPEG copy of a (C, H, W) image, longest side `side` (never enlarged)."""
    pil = Image.fromarray(to_uint8(image)).convert("RGB")
    pil.thumbnail((side, side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    pil.save(buf, format="JPEG", quality=90)
    atomic_write_bytes(path, buf.getvalue())
