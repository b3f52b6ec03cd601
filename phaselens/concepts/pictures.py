"""The small pictures a concepts folder keeps for people (and the Lens pages): image thumbnails,
concept maps laid over their images, and top crops.

    images/N.jpg     class image N (the strategy graph shows it on hover)
    maps/C_N.jpg     concept C's map over image N: the image, dimmed where the concept is absent
    crops/C_K.jpg    concept C's K-th top crop
"""

from __future__ import annotations

from pathlib import Path

import torch

from ..io import save_thumb

THUMB = 96
DIM = 0.35  # how much of the image shows where a concept is absent, so its map stays readable


def overlay(image: torch.Tensor, heat: torch.Tensor) -> torch.Tensor:
    """`image` (C, H, W) in [0, 1], dimmed where `heat` (H, W) is low (scaled by its maximum).

    Example:
        >>> img = torch.ones(3, 4, 4)
        >>> heat = torch.zeros(4, 4); heat[0, 0] = 2.0
        >>> out = overlay(img, heat)
        >>> round(float(out[0, 0, 0]), 3), round(float(out[0, 3, 3]), 3)
        (1.0, 0.35)
    """
    h = heat.float().clamp(min=0)
    top = float(h.max())
    h = h / top if top > 0 else h
    return image.float() * (DIM + (1 - DIM) * h)


def save_thumbs(images: torch.Tensor, folder: Path) -> list[str]:
    """Each image as ``images/N.jpg``; returns the paths relative to `folder`."""
    out = []
    for n, img in enumerate(images):
        save_thumb(img, folder / "images" / f"{n}.jpg", side=THUMB)
        out.append(f"images/{n}.jpg")
    return out


def save_maps(images: torch.Tensor, maps: torch.Tensor, folder: Path) -> list[list[str]]:
    """Concept maps (N, R, H, W) over their images as ``maps/C_N.jpg``; returns per concept the paths."""
    out: list[list[str]] = [[] for _ in range(maps.shape[1])]
    for n in range(len(maps)):
        for c in range(maps.shape[1]):
            save_thumb(overlay(images[n], maps[n, c]), folder / "maps" / f"{c}_{n}.jpg", side=THUMB)
            out[c].append(f"maps/{c}_{n}.jpg")
    return out
