"""Accentuations of each target's top natural images (``lens --images DIR --accentuate K``).

The first K images of a target's natural-images section are accentuated toward the target
(`phaselens.accentuate`, many targets' images in one batch) and shown as a page section
(``sections/60_accentuated.json``, written last, after the images it lists): what in each of these
photos the target responds to.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from ..accentuate import accentuate
from ..imagefiles import load_image
from ..io import atomic_write_json, read_json, save_thumb
from ..model import ImageModel
from . import store
from .natural import SECTION as NATURAL
from .plan import Target, objective_for, target_seed

SECTION = "60_accentuated.json"


def _todo(out: Path, targets: Sequence[Target], k: int) -> list[tuple[Target, list[dict]]]:
    """Targets whose natural images are there and whose accentuations (of k images) are not."""
    found = []
    for t in targets:
        folder = store.target_dir(out, t.name)
        natural = read_json(folder / "sections" / NATURAL)
        done = read_json(folder / "sections" / SECTION)
        if not isinstance(natural, dict) or (isinstance(done, dict) and done.get("k") == k):
            continue
        found.append((t, list(natural.get("items", []))[:k]))
    return found


def add_accentuations(
    model: ImageModel,
    out: Path,
    targets: Sequence[Target],
    image_dir: str | Path,
    k: int = 4,
    seed: int = 0,
    batch: int = 32,
) -> int:
    """Accentuate each target in its top-`k` natural images; returns how many targets got them."""
    root = Path(image_dir)
    jobs = [(t, rank, item) for t, items in _todo(out, targets, k) for rank, item in enumerate(items)]
    made: dict[str, list[dict]] = {}
    for i in range(0, len(jobs), batch):
        chunk = jobs[i : i + batch]
        images = torch.stack([load_image(root / it["file"], model.input_size, model.channels) for _, _, it in chunk])
        per_image = [t for t, _, _ in chunk]
        seeds = [target_seed(seed, t.key, rank) for t, rank, _ in chunk]  # per image, whatever its batch
        result = accentuate(model, images, objective_for(per_image), seed=seeds)
        for (t, rank, item), image in zip(chunk, result.images):
            src = f"accentuated/{rank}.jpg"
            made.setdefault(t.name, [])
            save_thumb(image, store.target_dir(out, t.name) / src, side=256)
            made[t.name].append(dict(src=src, caption=f"from {item.get('caption', '')}", file=item["file"]))
    for name, items in made.items():
        section = dict(
            id="accentuated",
            title="Accentuated in its top natural images",
            text="Each image above, changed as little as needed to raise this target (feature accentuation).",
            items=items,
            k=k,
        )
        atomic_write_json(store.target_dir(out, name) / "sections" / SECTION, section)
    return len(made)
