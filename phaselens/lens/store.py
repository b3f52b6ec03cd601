"""The lens output folder: where each file lives, what counts as complete, locks.

    DIR/lens.json                   run settings (a later run must match them)
    DIR/targets/NAME/image.png      the visualization (facet 0)
    DIR/targets/NAME/rgba.png       the same with transparency as alpha
    DIR/targets/NAME/facet_F.png    more facets (F >= 1), with facet_F_rgba.png
    DIR/targets/NAME/thumb.jpg      small copy for the index
    DIR/targets/NAME/manifest.json  written last: its presence marks the target complete
    DIR/targets/NAME/failed.json    a target whose objective diverged: its manifest, with the error
                                    (not complete: a resumed run retries it, and removes this on success)
    DIR/targets/NAME/sections/*.json extra page sections (natural images, later concepts)
    DIR/site/                       the static site (index.html, target.html, data.js)
    DIR/locks/                      lock files of running shards

Every file is written to a hidden temporary name and renamed into place, so a
killed run leaves either a whole file or a hidden ``.*.tmp`` that the next run removes.
"""

from __future__ import annotations

import io
import json
import os
import socket
import time
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from ..config import IMAGE_FIELDS
from ..errors import PhaseLensError
from ..io import atomic_write_bytes, atomic_write_json, save_png, save_rgba, to_uint8
from .manifest import THUMB, Manifest

MANIFEST = "manifest.json"
FAILED = "failed.json"
CONFIG = "lens.json"
# Settings that change the images: a folder's targets must all share them.
IMAGE_SETTINGS = ("model", *IMAGE_FIELDS, "seed", "facets")

try:  # fcntl is POSIX only; elsewhere runs are not locked (and the docs say so).
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]


def targets_dir(out: Path) -> Path:
    return Path(out) / "targets"


def target_dir(out: Path, name: str) -> Path:
    return targets_dir(out) / name


def read_json(path: Path) -> Any | None:
    """A JSON file's content, or None when missing or unreadable."""
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def read_complete(out: Path, name: str) -> Manifest | None:
    """The manifest of target `name` if it is complete (manifest and every listed file present)."""
    folder = target_dir(out, name)
    data = read_json(folder / MANIFEST)
    if not isinstance(data, dict):
        return None
    try:
        manifest = Manifest.from_dict(data, name)
    except (KeyError, TypeError, ValueError):
        return None
    if all((folder / f).is_file() for f in manifest.files()):
        return manifest
    return None


def remove_temp_files(folder: Path) -> int:
    """Delete the hidden ``.*.tmp`` files a killed writer left in `folder` (and below); returns the count."""
    count = 0
    if folder.is_dir():
        for path in folder.rglob(".*.tmp"):
            path.unlink(missing_ok=True)
            count += 1
    return count


def check_config(out: Path, settings: dict, planned: list[str]) -> dict:
    """Write ``lens.json`` on first use; later, refuse settings that would mix different images.

    Returns the folder's config. Until some target is complete the settings may
    change freely. Target lists may differ between runs (a folder can grow from
    ``class:0-9`` to ``class:all``); `planned` accumulates them.
    """
    path = Path(out) / CONFIG
    current = read_json(path)
    current = current if isinstance(current, dict) else {}
    old = current.get("settings")
    if isinstance(old, dict) and _any_complete(out):
        diff = [k for k in IMAGE_SETTINGS if json.dumps(old.get(k)) != json.dumps(settings.get(k))]
        if diff:
            details = ", ".join(f"{k}={old.get(k)!r} there but {settings.get(k)!r} now" for k in diff)
            raise PhaseLensError(
                f"{out} holds a lens made with other settings ({details}); "
                "use another --out folder, or run again with the same settings"
            )
    merged = list(dict.fromkeys(list(current.get("planned", [])) + list(planned)))
    if isinstance(old, dict) and old.get("title") and not settings.get("title"):
        settings = dict(settings, title=old["title"])  # a title, once given, stays
    config = dict(current, version=1, settings=settings, planned=merged)
    if config != current:
        atomic_write_json(path, config)
    return config


def _any_complete(out: Path) -> bool:
    root = targets_dir(out)
    return root.is_dir() and any((d / MANIFEST).is_file() for d in root.iterdir())


class ShardLock:
    """An exclusive `fcntl.flock` on ``locks/shard-R-of-W.lock`` for as long as a run works.

    Ranks of one job hold different shards, so they never wait on each other; a
    second run on the same shard is refused with the holder's pid and host.
    """

    def __init__(self, out: Path, shard) -> None:
        self.path = Path(out) / "locks" / f"shard-{shard.rank}-of-{shard.world}.lock"
        self.shard = shard
        self._fd: int | None = None

    def __enter__(self) -> ShardLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown process"
                os.close(fd)
                raise PhaseLensError(
                    f"another lens run is already working on shard {self.shard} of {self.path.parents[1]} "
                    f"({holder}); wait for it to finish, or use another --out folder"
                ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%H:%M:%S')}".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing releases the flock
            self._fd = None


class FolderLock:
    """A blocking exclusive lock on ``locks/NAME.lock``, for short critical sections (building the site)."""

    def __init__(self, out: Path, name: str) -> None:
        self.path = Path(out) / "locks" / f"{name}.lock"
        self._fd: int | None = None

    def __enter__(self) -> FolderLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def facet_files(facet: int) -> tuple[str, str]:
    """File names of facet `facet`: (image, rgba)."""
    return ("image.png", "rgba.png") if facet == 0 else (f"facet_{facet}.png", f"facet_{facet}_rgba.png")


def save_thumb(image: torch.Tensor, path: Path, side: int = 160) -> None:
    """A JPEG copy of a (C, H, W) image, longest side `side` (never enlarged)."""
    pil = Image.fromarray(to_uint8(image)).convert("RGB")
    pil.thumbnail((side, side), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    pil.save(buf, format="JPEG", quality=90)
    atomic_write_bytes(path, buf.getvalue())


def save_target(out: Path, manifest: Manifest, images: torch.Tensor, alphas: torch.Tensor) -> Path:
    """Write one target's images, then its manifest (the completion mark).

    Args:
        manifest: ``name`` names the folder; its facets get their file names here.
        images: (F, C, H, W) one image per facet; alphas: (F, 1, H, W).
    """
    folder = target_dir(out, manifest.name)
    folder.mkdir(parents=True, exist_ok=True)
    # An old manifest whose files went missing must not vouch for the new files half-way.
    (folder / MANIFEST).unlink(missing_ok=True)
    (folder / FAILED).unlink(missing_ok=True)
    for f, (image, alpha) in enumerate(zip(images, alphas)):
        png, rgba = facet_files(f)
        save_png(image, folder / png)
        save_rgba(image, alpha, folder / rgba)
        manifest.facets[f].image, manifest.facets[f].rgba = png, rgba
    save_thumb(images[0], folder / THUMB)
    manifest.thumb = THUMB
    atomic_write_json(folder / MANIFEST, manifest.to_dict())
    return folder


def save_failed(out: Path, manifest: Manifest) -> Path:
    """Mark a target failed (``failed.json``: its manifest with ``failed`` set); it stays incomplete."""
    path = target_dir(out, manifest.name) / FAILED
    atomic_write_json(path, manifest.to_dict())
    return path


def read_failed(out: Path, name: str) -> Manifest | None:
    """The failure record of target `name`, or None."""
    data = read_json(target_dir(out, name) / FAILED)
    try:
        return Manifest.from_dict(data, name) if isinstance(data, dict) else None
    except (KeyError, TypeError, ValueError):
        return None
