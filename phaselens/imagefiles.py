"""Image files on disk: the one list of extensions, finding files, and decoding them.

Two ways to find files share `EXTENSIONS`: `iter_images` walks a folder lazily
(hidden names skipped), for streaming over large collections; `list_images`
lists an ImageFolder (``ROOT/CLASS/image.jpg``) with each file's class folder.
Two ways to decode: `load_image` gives a (C, H, W) tensor of any crop size,
`load_square` an (N, N, 3) array that keeps 16-bit grayscale depth.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageOps

from .errors import PhaseLensError

EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png", ".tif", ".tiff", ".webp")


def iter_images(folder: str | os.PathLike[str], extensions: Sequence[str] = EXTENSIONS) -> Iterator[Path]:
    """Image files under `folder` (nested, sorted per folder, hidden names skipped), lazily."""
    exts = tuple(e.lower() for e in extensions)
    for root, dirs, files in os.walk(os.fspath(folder)):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if not name.startswith(".") and name.lower().endswith(exts):
                yield Path(root) / name


def list_images(root: str | Path) -> list[tuple[Path, str]]:
    """(path, class folder) of every image in ``root/CLASS/...``, sorted ("" for files in root itself)."""
    root = Path(root)
    if not root.is_dir():
        raise PhaseLensError(f"--images {root}: no such folder (expected ROOT/CLASS/image.jpg)")
    found = sorted(p for p in root.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())
    if not found:
        raise PhaseLensError(
            f"--images {root}: no images found (expected ROOT/CLASS/image.jpg; {', '.join(sorted(EXTENSIONS))})"
        )
    return [(p, p.relative_to(root).parts[0] if len(p.relative_to(root).parts) > 1 else "") for p in found]


def load_image(path: Path, size: tuple[int, int], channels: int) -> torch.Tensor:
    """An image as (C, H, W) in [0, 1]: shorter side resized to fit, then centre-cropped to `size`."""
    try:
        with Image.open(path) as img:
            img = img.convert("L" if channels == 1 else "RGB")
            h, w = size
            scale = max(h / img.height, w / img.width)
            img = img.resize(
                (max(w, round(img.width * scale)), max(h, round(img.height * scale))), Image.Resampling.BILINEAR
            )
            left, top = (img.width - w) // 2, (img.height - h) // 2
            arr = np.asarray(img.crop((left, top, left + w, top + h)), dtype=np.float32) / 255.0
    except OSError as err:
        raise PhaseLensError(f"cannot read image {path}: {err}") from None
    t = torch.from_numpy(arr)
    return t[None] if t.ndim == 2 else t.permute(2, 0, 1)


def load_square(path: str | os.PathLike, size: int) -> np.ndarray:
    """One image as RGB in [0, 1], resized (shorter side) and centre-cropped to size x size.

    Shape:
        - output: (size, size, 3) float32.
    """
    with Image.open(path) as img:
        img.draft("RGB", (size, size))  # JPEG: decode at the smallest DCT scale still >= size
        img = ImageOps.exif_transpose(img)
        if img.mode.startswith("I"):  # 16-bit grayscale: convert("RGB") would clip it at 255
            arr = np.asarray(img, dtype=np.float32)
            deep = img.mode.startswith("I;16") or float(arr.max(initial=0)) > 255
            gray = ImageOps.fit(
                Image.fromarray(arr / (65535.0 if deep else 255.0)), (size, size), Image.Resampling.BICUBIC
            )
            return np.repeat(np.asarray(gray, dtype=np.float32)[..., None], 3, axis=2)
        img = img.convert("RGB")
        img = ImageOps.fit(img, (size, size), Image.Resampling.BICUBIC)
        return np.asarray(img, dtype=np.float32) / 255.0
