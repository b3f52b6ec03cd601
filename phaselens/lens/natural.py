"""Natural images that most activate each target, from an ImageFolder-style folder.

Every image is scored against every target once (the logit for a class, the
mean activation for a channel, the centre activation for a neuron); each
target keeps its top k as a page section (``sections/50_natural.json``, written
last, after the thumbnails it lists).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import torch

from ..errors import PhaseLensError
from ..io import atomic_write_json
from ..layers import Capture
from ..model import ImageModel, model_device_dtype
from ..objectives import spatial
from . import store
from .plan import Target

EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".tif", ".tiff"}
SECTION = "50_natural.json"


def list_images(root: str | Path) -> list[tuple[Path, str]]:
    """(path, class folder) of every image in ``root/CLASS/...``, sorted."""
    root = Path(root)
    if not root.is_dir():
        raise PhaseLensError(f"--images {root}: no such folder (expected ROOT/CLASS/image.jpg)")
    found = sorted(p for p in root.rglob("*") if p.suffix.lower() in EXTENSIONS and p.is_file())
    if not found:
        raise PhaseLensError(f"--images {root}: no images found (expected ROOT/CLASS/image.jpg; {', '.join(sorted(EXTENSIONS))})")
    return [(p, p.relative_to(root).parts[0] if len(p.relative_to(root).parts) > 1 else "") for p in found]


def load_image(path: Path, size: tuple[int, int], channels: int) -> torch.Tensor:
    """An image as (C, H, W) in [0, 1]: shorter side resized to fit, then centre-cropped to `size`."""
    import numpy as np
    from PIL import Image

    try:
        with Image.open(path) as img:
            img = img.convert("L" if channels == 1 else "RGB")
            h, w = size
            scale = max(h / img.height, w / img.width)
            img = img.resize((max(w, round(img.width * scale)), max(h, round(img.height * scale))), Image.Resampling.BILINEAR)
            left, top = (img.width - w) // 2, (img.height - h) // 2
            arr = np.asarray(img.crop((left, top, left + w, top + h)), dtype=np.float32) / 255.0
    except OSError as err:
        raise PhaseLensError(f"cannot read image {path}: {err}") from None
    t = torch.from_numpy(arr)
    return t[None] if t.ndim == 2 else t.permute(2, 0, 1)


def score_images(model: ImageModel, targets: Sequence[Target], images: torch.Tensor) -> torch.Tensor:
    """Scores (N, T) of N images (N, C, H, W) against each target."""
    layers = sorted({t.layer for t in targets if t.layer})
    need_logits = any(t.kind == "class" for t in targets)
    device, dtype = model_device_dtype(model)
    capture = Capture(model.net, layers, need_output=need_logits)
    prefix = getattr(model.net, "num_prefix_tokens", None)
    with torch.no_grad():
        logits = capture(model, images.to(device, dtype))
        maps = {name: spatial(capture.outputs[name], prefix_tokens=prefix).float() for name in layers}
    cols = []
    for t in targets:
        if t.kind == "class":
            cols.append(logits[:, t.index].float())
        elif t.kind == "channel":
            cols.append(maps[t.layer][:, t.index].mean(dim=(1, 2)))
        else:
            m = maps[t.layer]
            cols.append(m[:, t.index, m.shape[2] // 2, m.shape[3] // 2])
    return torch.stack(cols, dim=1).cpu()


def _done(folder: Path, source: str, k: int) -> bool:
    section = store.read_json(folder / "sections" / SECTION)
    return isinstance(section, dict) and section.get("source") == source and section.get("k") == k


def add_natural_images(model: ImageModel, out: Path, targets: Sequence[Target], image_dir: str | Path, k: int = 8,
                       batch: int = 64) -> int:
    """Add the top-`k` natural images to each complete target lacking them; returns how many were added."""
    source = str(Path(image_dir).resolve())
    todo = [t for t in targets if store.read_complete(out, t.name) is not None
            and not _done(store.target_dir(out, t.name), source, k)]
    if not todo:
        return 0
    files = list_images(image_dir)
    was_training = model.training
    model.eval()
    try:
        scores = torch.cat([
            score_images(model, todo, torch.stack([load_image(p, model.input_size, model.channels)
                                                   for p, _ in files[i : i + batch]]))
            for i in range(0, len(files), batch)
        ])
    finally:
        model.train(was_training)
    top = scores.topk(min(k, len(files)), dim=0).indices  # (k, T)
    root = Path(image_dir)
    for j, t in enumerate(todo):
        folder = store.target_dir(out, t.name)
        items = []
        for rank, i in enumerate(top[:, j].tolist()):
            path, label = files[i]
            src = f"natural/{rank}.jpg"
            image = load_image(path, (256, 256), 3)  # a bigger crop than the model's input, for the eye
            store.save_thumb(image, folder / src, side=256)
            items.append(dict(src=src, caption=label or path.name, file=str(path.relative_to(root)),
                              score=float(scores[i, j])))
        section = dict(id="natural", title="Natural images that activate it most",
                       text=f"Top {len(items)} of {len(files)} images in {root.name}/ by this target's score.",
                       items=items, source=source, k=k)
        atomic_write_json(folder / "sections" / SECTION, section)
    return len(todo)
