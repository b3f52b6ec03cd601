"""Natural images that most activate each target, from an ImageFolder-style folder.

Every image is scored against every target once (the logit for a class, the
mean activation for a channel, the centre activation for a neuron); each
target keeps its top k as a page section (``sections/50_natural.json``, written
last, after the thumbnails it lists).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch

from ..features import LayerReader
from ..imagefiles import list_images, load_image
from ..io import atomic_write_json, read_json, save_thumb
from ..model import ImageModel, frozen, model_device_dtype
from . import store
from .plan import Target

SECTION = "50_natural.json"


def score_images(model: ImageModel, targets: Sequence[Target], images: torch.Tensor) -> torch.Tensor:
    """Scores (N, T) of N images (N, C, H, W) against each target, reading layers as the optimization does."""
    layers = sorted({t.layer for t in targets if t.layer})
    reader = LayerReader(model, layers, need_logits=any(t.kind == "class" for t in targets))
    device, dtype = model_device_dtype(model)
    with frozen(model), torch.no_grad():
        logits = reader(images.to(device, dtype))
        maps = {name: reader.maps(name).float() for name in layers}
    cols = []
    for t in targets:
        if t.kind == "class":
            assert logits is not None
            cols.append(logits[:, t.index].float())
        elif t.kind == "channel":
            cols.append(maps[str(t.layer)][:, t.index].mean(dim=(1, 2)))
        else:
            m = maps[str(t.layer)]
            cols.append(m[:, t.index, m.shape[2] // 2, m.shape[3] // 2])
    return torch.stack(cols, dim=1).cpu()


def _done(folder: Path, source: str, k: int) -> bool:
    section = read_json(folder / "sections" / SECTION)
    return isinstance(section, dict) and section.get("source") == source and section.get("k") == k


def add_natural_images(
    model: ImageModel, out: Path, targets: Sequence[Target], image_dir: str | Path, k: int = 8, batch: int = 64
) -> int:
    """Add the top-`k` natural images to each complete target lacking them; returns how many were added."""
    source = str(Path(image_dir).resolve())
    todo = [
        t
        for t in targets
        if store.read_complete(out, t.name) is not None and not _done(store.target_dir(out, t.name), source, k)
    ]
    if not todo:
        return 0
    files = list_images(image_dir)
    scores = torch.cat(
        [
            score_images(
                model,
                todo,
                torch.stack([load_image(p, model.input_size, model.channels) for p, _ in files[i : i + batch]]),
            )
            for i in range(0, len(files), batch)
        ]
    )
    top = scores.topk(min(k, len(files)), dim=0).indices  # (k, T)
    root = Path(image_dir)
    for j, t in enumerate(todo):
        folder = store.target_dir(out, t.name)
        items = []
        for rank, i in enumerate(top[:, j].tolist()):
            path, label = files[i]
            src = f"natural/{rank}.jpg"
            image = load_image(path, (256, 256), 3)  # a bigger crop than the model's input, for the eye
            save_thumb(image, folder / src, side=256)
            items.append(
                dict(src=src, caption=label or path.name, file=str(path.relative_to(root)), score=float(scores[i, j]))
            )
        section = dict(
            id="natural",
            title="Natural images that activate it most",
            text=f"Top {len(items)} of {len(files)} images in {root.name}/ by this target's score.",
            items=items,
            source=source,
            k=k,
        )
        atomic_write_json(folder / "sections" / SECTION, section)
    return len(todo)
