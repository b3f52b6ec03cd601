"""`run_concepts`: the concepts of every class of a model, into a resumable folder.

    DIR/concepts.json                    the run's settings (a resumed run must match them)
    DIR/classes/NAME/bank.safetensors    the concept bank (W, settings, fit metrics)
    DIR/classes/NAME/importance.json     per-image and global importance (gradient_input and sobol)
    DIR/classes/NAME/strategy.json       the strategic cluster graph: 2-D points, dominant concepts
    DIR/classes/NAME/relations.json      similarity, its layout, alignment with the classes of the head
    DIR/classes/NAME/maps.safetensors    concept maps of the first few class images (float16)
    DIR/classes/NAME/crops/C_K.jpg       top crops of each concept; concept_C.png, concept_C_rgba.png: MACO
    DIR/classes/NAME/manifest.json       written last: the class is complete
    DIR/links.json, DIR/metrics.json     similar concepts across classes; every score (and ground truth)

Classes go in groups of `group`: one batched factorization and one batched MACO call per group.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from ..config import RunConfig
from ..data import PARTS_CLASS_PARTS
from ..errors import PhaseLensError
from ..imagefiles import list_images
from ..io import atomic_write_json, output_folder, save_png, save_rgba, transparency_alpha
from ..lens.shard import Shard
from ..lens.store import ShardLock, read_json, save_thumb
from ..model import as_image_model, model_device_dtype
from ..targets import parse_targets
from ..util import slug, versions
from .bank import ConceptBank
from .extract import crop_activations, crop_boxes, default_patch, extract_many
from .folder import CONFIG, MANIFEST, class_dir, importance_record, plain
from .images import class_images
from .importance import importance
from .maps import concept_maps, top_crops
from .relations import alignment, head_directions, similarity, similarity_layout, stability
from .split import Split, split_model
from .strategies import strategies
from .truth import class_scores, write_metrics
from .visualize import visualize_concepts

MAPS_PER_CLASS = 4
METHODS = ("gradient_input", "sobol")
MIN_IMAGES = 10  # a concept dominating this many images is important (the Lens site's rule)


@dataclass
class ConceptsReport:
    """What `run_concepts` did: folder, classes, made now / already complete, seconds, metrics."""

    out_dir: Path
    classes: list[int]
    made: int
    skipped: int
    seconds: float
    metrics: dict[str, Any] = field(default_factory=dict)


def _rows_per_image(split: Split, on: str) -> int:
    """Rows one image gives `extract`: its CRAFT crops, or its positions on the layer's grid."""
    h, w = split.model.input_size
    return len(crop_boxes(1, h, w, default_patch(min(h, w)))) if on == "crops" else split.grid[0] * split.grid[1]


def _check_rank(split: Split, picked: dict[int, torch.Tensor], rank: int, on: str) -> None:
    """Every class must give at least `rank` rows (crops or positions), and `rank` <= the layer's channels."""
    per_image = _rows_per_image(split, on)
    if rank > split.channels:
        raise PhaseLensError(f"rank {rank} exceeds the {split.channels} channels of layer {split.layer}")
    for c, idx in picked.items():
        if len(idx) * per_image < rank:
            raise PhaseLensError(
                f"class {c}: {len(idx)} images give {len(idx) * per_image} {on}, fewer than rank {rank}; "
                "give more images (--per-class, --images) or a smaller --rank"
            )


def _names(model, classes: Sequence[int]) -> dict[int, str]:
    names = model.class_names or []
    return {c: f"class_{c:04d}" + (f"_{slug(names[c])}" if c < len(names) else "") for c in classes}


def run_concepts(
    model: nn.Module,
    out_dir: str | Path,
    targets: str = "class:all",
    *,
    images: str | Path | None = None,
    layer: str | None = None,
    rank: int = 10,
    per_class: int = 50,
    on: str | None = None,
    method: str = "auto",
    group: int = 16,
    seed: int = 0,
    config: RunConfig | None = None,
    concept_images: bool = True,
    top_k: int = 10,
    progress: bool = False,
    **overrides: Any,
) -> ConceptsReport:
    """Extract, score and visualize the concepts of every class of `targets` into `out_dir`.

    Args:
        model: the classifier. out_dir: the folder (created; reused to resume).
        targets: ``class:all``, ``class:0-9``, ... (class targets only).
        images: an ImageFolder; default: the zoo model's own procedural images.
        layer, rank, on, method: as in `extract`; `on` defaults to the model's ``concepts.on`` default
            (`ImageModel.defaults`: positions for zoo:parts), else crops.
        per_class: images per class (those predicted as it).
        group: classes per batched factorization and MACO call. seed: every seed derives from it.
        config, overrides: MACO settings of the concept images; concept_images: False skips them.
        top_k: top crops per concept.

    Raises:
        PhaseLensError: bad input (before anything is written), or settings that differ from the folder's.
    """
    start = time.time()
    im = as_image_model(model)
    plan = parse_targets(targets, im)
    if plan.kind != "class":
        raise PhaseLensError(f"concepts are extracted per class: give class targets, not {targets!r}")
    if group < 1 or top_k < 1:
        raise PhaseLensError(f"group and top_k must be >= 1, got {group} and {top_k}")
    if images is not None:
        list_images(images)
    on = on or str(getattr(im, "defaults", {}).get("concepts.on", "crops"))
    sp = split_model(im, layer)  # a bad layer is refused before anything is written
    pool, picked = class_images(im, plan.indices, per_class, images, seed, min_images=2)
    _check_rank(sp, picked, rank, on)
    names = _names(im, plan.indices)
    maco = (config or RunConfig()).replace(**overrides)
    settings = dict(
        model=im.name,
        layer=sp.layer,
        rank=rank,
        per_class=per_class,
        on=on,
        method=method,
        seed=seed,
        images=pool.source,
        maco=maco.manifest(im.input_size) if concept_images else None,
    )
    with output_folder(out_dir) as out, ShardLock(out, Shard(0, 1)):
        old = read_json(out / CONFIG)
        if isinstance(old, dict) and old.get("settings") != settings and any(out.glob(f"classes/*/{MANIFEST}")):
            raise PhaseLensError(f"{out} holds concepts made with other settings; use another --out folder")
        atomic_write_json(out / CONFIG, dict(settings=settings, classes=[names[c] for c in plan.indices]))
        todo = [c for c in plan.indices if not (class_dir(out, names[c]) / MANIFEST).is_file()]
        for g in range(0, len(todo), group):
            chunk = todo[g : g + group]
            batch = [pool.take(picked[c]) for c in chunk]  # only this group's images in memory
            # The crop forwards are the costliest part: run them once for extraction and top crops.
            crops = [crop_activations(sp, b) for b in batch] if on == "crops" else [None] * len(batch)
            rows = [c[0] for c in crops] if on == "crops" else None  # type: ignore[index]
            banks = extract_many(im, batch, chunk, sp.layer, rank, on, method, seed=seed, split=sp, rows=rows)
            pictures: list = visualize_concepts(im, banks, maco, seed=seed) if concept_images else [None] * len(banks)
            for c, bank, imgs, pic, cut in zip(chunk, banks, batch, pictures, crops):
                _save_class(out, names[c], c, bank, imgs, pic, cut, sp, pool, picked[c], top_k, seed)
        metrics = write_metrics(out, plan.indices, names)
    made, skipped = len(todo), len(plan.indices) - len(todo)
    return ConceptsReport(out, list(plan.indices), made, skipped, round(time.time() - start, 2), metrics)


def _save_class(
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
        entry: dict[str, Any] = dict(index=c, crops=crops[c])
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
    if (len(images) // 2) * _rows_per_image(split, bank.on) < bank.rank:
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
