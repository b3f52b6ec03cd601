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

import json
from pathlib import Path

import torch

from ..config import IMAGE_FIELDS
from ..errors import PhaseLensError
from ..io import atomic_write_json, read_json, save_png, save_rgba, save_thumb
from .manifest import THUMB, Manifest

MANIFEST = "manifest.json"
FAILED = "failed.json"
CONFIG = "lens.json"
# Settings that change the images: a folder's targets must all share them.
IMAGE_SETTINGS = ("model", *IMAGE_FIELDS, "seed", "facets", "diversity")


def targets_dir(out: Path) -> Path:
    return Path(out) / "targets"


def target_dir(out: Path, name: str) -> Path:
    return targets_dir(out) / name


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


def facet_files(facet: int) -> tuple[str, str]:
    """File names of facet `facet`: (image, rgba)."""
    return ("image.png", "rgba.png") if facet == 0 else (f"facet_{facet}.png", f"facet_{facet}_rgba.png")


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
