"""One class of a concepts folder: its bank scored (importance, strategies, relations, maps, ground
truth) and its files written, the manifest last (`phaselens.concepts.run` has the layout)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from ..data import PARTS_CLASS_PARTS
from ..io import atomic_write_json, save_png, save_rgba, save_thumb, transparency_alpha
from ..model import model_device_dtype
from ..util import versions
from .bank import ConceptBank
from .extract import crop_boxes, default_patch, extract_many
from .folder import MANIFEST, class_dir, importance_record, plain
from .importance import importance
from .maps import concept_maps, top_crops
from .pictures import save_maps, save_thumbs
from .relations import alignment, head_directions, similarity, similarity_layout, stability
from .split import Split
from .strategies import strategies
from .truth import class_scores

MAPS_PER_CLASS = 4
METHODS = ("gradient_input", "sobol")
MIN_IMAGES = 10  # a concept dominating this many images is important (the Lens site's rule)


def rows_per_image(split: Split, on: str) -> int:
    """Rows one image gives `extract`: its CRAFT crops, or its positions on the layer's grid."""
    h, w = split.model.input_size
    return len(crop_boxes(1, h, w, default_patch(min(h, w)))) if on == "crops" else split.grid[0] * split.grid[1]


def save_class(
    out: Path,
    name: str,
    class_id: int,
    bank: ConceptBank,
    images: torch.Tensor,
    pictures,
    cut: tuple[torch.Tensor, torch.Tensor] | None,
    split: Split,
    pool,
    indices: torch.Tensor,
    top_k: int,
    seed: int,
) -> None:
    """Score one class's bank and write its files, the manifest last."""
    folder = class_dir(out, name)
    imps = {m: importance(bank, split.model, images, class_id, m, split=split, seed=seed) for m in METHODS}
    main = imps["gradient_input"] if split.affine else imps["sobol"]
    strat = strategies(main.per_image, min_images=min(MIN_IMAGES, max(1, len(images) // 5)), seed=seed)
    sim = similarity(bank.W)
    device = model_device_dtype(split.model)[0]
    dirs = head_directions(_maps_to_logits(split, images), split.grid, split.channels, device=device)
    align = alignment(bank.W, dirs, top=5)
    masks = [pool.masks[int(i)] for i in indices] if pool.masks is not None else None
    # Ground truth needs the maps of every image; the folder keeps the first few.
    full = concept_maps(bank, split.model, images if masks is not None else images[:MAPS_PER_CLASS], split=split)
    maps = full[:MAPS_PER_CLASS]
    thumbs = save_thumbs(images, folder)
    map_files = save_maps(images[:MAPS_PER_CLASS], maps, folder)
    tops, boxes = top_crops(bank, split.model, images, k=top_k, split=split, crops=cut)
    bank.save(folder / "bank.safetensors")
    save_file({"maps": maps.half().contiguous()}, str(folder / "maps.safetensors"))
    crops = []
    for c in range(bank.rank):
        row = []
        for j, i in enumerate(tops[c].tolist()):
            n, y0, x0, y1, x1 = (int(v) for v in boxes[i])
            save_thumb(images[n, :, y0:y1, x0:x1], folder / "crops" / f"{c}_{j}.jpg", side=96)
            row.append(dict(src=f"crops/{c}_{j}.jpg", image=pool.names[int(indices[n])], box=[y0, x0, y1, x1]))
        crops.append(row)
    concepts = []
    for c in range(bank.rank):
        entry: dict[str, Any] = dict(index=c, crops=crops[c], maps=map_files[c])
        if pictures is not None:
            save_png(pictures.images[c], folder / f"concept_{c}.png")
            save_rgba(
                pictures.images[c], transparency_alpha(pictures.transparency[c]), folder / f"concept_{c}_rgba.png"
            )
            entry.update(image=f"concept_{c}.png", rgba=f"concept_{c}_rgba.png", score=pictures.scores[c])
        concepts.append(entry)
    atomic_write_json(
        folder / "importance.json", {m: importance_record(v) for m, v in imps.items()} | {"main": main.method}
    )
    atomic_write_json(
        folder / "strategy.json",
        dict(
            points=np.round(strat.points, 4).tolist(),
            dominant=strat.dominant.tolist(),
            counts=strat.counts.tolist(),
            important=strat.important.tolist(),
            images=[pool.names[int(i)] for i in indices],
            thumbs=thumbs,
            method=strat.method,
        ),
    )
    atomic_write_json(
        folder / "relations.json",
        dict(
            similarity=np.round(sim, 4).tolist(),
            layout=np.round(similarity_layout(sim), 4).tolist(),
            alignment=dict(classes=align.classes.tolist(), cosines=np.round(align.cosines, 4).tolist()),
        ),
    )
    label = (split.model.class_names or [name] * (class_id + 1))[class_id]
    parts = PARTS_CLASS_PARTS.get(label, ()) if masks is not None else ()
    scores = class_scores(split, bank, main, images, full if masks is not None else None, masks, parts, seed)
    if masks is not None:
        scores["stability"] = _halves(images, class_id, bank, split, seed)
    manifest = dict(
        name=name,
        class_id=class_id,
        label=label,
        rank=bank.rank,
        images=len(images),
        important=strat.num_important,
        concepts=concepts,
        fit=bank.metrics,
        scores=plain(scores),
        versions=versions(),
        created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    )
    atomic_write_json(folder / MANIFEST, manifest)


def _maps_to_logits(split: Split, images: torch.Tensor):
    """h on bare activation maps; a token layer's prefix (CLS) tokens are the class images' mean."""
    if not split.prefix_tokens:
        return split.h
    with torch.no_grad():
        prefix = split.activations(images).prefix
    assert prefix is not None
    mean = prefix.mean(dim=0, keepdim=True)
    return lambda maps: split.h(maps, prefix=mean.expand(len(maps), -1, -1).to(maps))


def _halves(images: torch.Tensor, class_id: int, bank: ConceptBank, split: Split, seed: int) -> float | None:
    """Stability: banks fitted on the even and the odd images of the class, matched by cosine
    (None when half the images give fewer rows than the rank)."""
    if (len(images) // 2) * rows_per_image(split, bank.on) < bank.rank:
        return None
    a, b = extract_many(
        split.model,
        [images[0::2], images[1::2]],
        [class_id] * 2,
        split.layer,
        bank.rank,
        bank.on,
        bank.method,
        seed=seed,
        split=split,
    )
    return stability(a.W, b.W)
