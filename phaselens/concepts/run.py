"""`run_concepts`: the concepts of every class of a model, into a resumable folder.

    DIR/concepts.json                    the run's settings (a resumed run must match them)
    DIR/classes/NAME/bank.safetensors    the concept bank (W, settings, fit metrics)
    DIR/classes/NAME/importance.json     per-image and global importance (gradient_input and sobol)
    DIR/classes/NAME/strategy.json       the strategic cluster graph: 2-D points, dominant concepts
    DIR/classes/NAME/relations.json      similarity, its layout, alignment with the classes of the head
    DIR/classes/NAME/maps.safetensors    concept maps of the first few class images (float16)
    DIR/classes/NAME/crops/C_K.jpg       top crops of each concept; concept_C.png, concept_C_rgba.png: MACO
    DIR/classes/NAME/images/N.jpg        the class images, small; maps/C_N.jpg: concept C over image N
    DIR/classes/NAME/manifest.json       written last: the class is complete
    DIR/links.json, DIR/metrics.json     similar concepts across classes; every score (and ground truth)

Classes go in groups of `group`: one batched factorization and one batched MACO call per group.
`plan_concepts` checks a job and picks its images, writing nothing; `make_concepts` makes it (the
Lens runs the two apart, so that bad concept options are refused before any target is made).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from ..config import RunConfig
from ..errors import PhaseLensError
from ..imagefiles import list_images
from ..io import (
    atomic_write_json,
    output_folder,
    read_json,
    remove_temp_files,
)
from ..locks import FolderLock, ShardLock
from ..model import ImageModel, as_image_model
from ..shard import Shard
from ..targets import parse_targets
from .class_folder import rows_per_image, save_class
from .extract import crop_activations, extract_many
from .folder import CONFIG, MANIFEST, check_extra, class_dir
from .images import ImageSet, class_images
from .split import Split, split_model
from .truth import write_metrics
from .visualize import visualize_concepts


@dataclass
class ConceptsReport:
    """What `run_concepts` did: folder, classes, made now / already complete, seconds, metrics."""

    out_dir: Path
    classes: list[int]
    made: int
    skipped: int
    seconds: float
    metrics: dict[str, Any] = field(default_factory=dict)


def _check_rank(split: Split, picked: dict[int, torch.Tensor], rank: int, on: str) -> None:
    """Every class must give at least `rank` rows (crops or positions), and `rank` <= the layer's channels."""
    per_image = rows_per_image(split, on)
    if rank > split.channels:
        raise PhaseLensError(f"rank {rank} exceeds the {split.channels} channels of layer {split.layer}")
    for c, idx in picked.items():
        if len(idx) * per_image < rank:
            raise PhaseLensError(
                f"class {c}: {len(idx)} images give {len(idx) * per_image} {on}, fewer than rank {rank}; "
                "give more images (--per-class, --images) or a smaller --rank"
            )


@dataclass
class ConceptJob:
    """A checked concepts job (`plan_concepts`): everything `make_concepts` needs, nothing written yet."""

    model: ImageModel
    split: Split
    classes: list[int]
    names: dict[int, str]
    pool: ImageSet
    picked: dict[int, torch.Tensor]
    settings: dict[str, Any]
    maco: RunConfig
    concept_images: bool
    group: int
    top_k: int
    seed: int
    skipped: dict[int, int] = field(default_factory=dict)


def plan_concepts(
    model: nn.Module,
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
    skip_short: bool = False,
    **overrides: Any,
) -> ConceptJob:
    """Check a concepts job and pick each class's images, writing nothing (arguments: `run_concepts`).

    skip_short: leave out the classes with too few images predicted as them (recorded in
    ``job.skipped``: class -> images) instead of refusing the job, as the Lens does at 1000 classes.

    Raises:
        PhaseLensError: bad targets, layer, rank, images or settings.
    """
    check_extra()
    im = as_image_model(model)
    plan = parse_targets(targets, im)
    if plan.kind != "class":
        raise PhaseLensError(f"concepts are extracted per class: give class targets, not {targets!r}")
    if group < 1 or top_k < 1:
        raise PhaseLensError(f"group and top_k must be >= 1, got {group} and {top_k}")
    for what, value, least in (("rank", rank, 1), ("per_class", per_class, 2)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise PhaseLensError(f"{what} must be an integer >= {least}, got {value!r}")
    if images is not None:
        list_images(images)
    on = on or str(getattr(im, "defaults", {}).get("concepts.on", "crops"))
    sp = split_model(im, layer)  # a bad layer is refused before anything is written
    pool, picked = class_images(im, plan.indices, per_class, images, seed, min_images=0 if skip_short else 2)
    skipped: dict[int, int] = {}
    if skip_short:
        need = max(2, -(-rank // rows_per_image(sp, on)))
        skipped = {c: len(idx) for c, idx in picked.items() if len(idx) < need}
        picked = {c: idx for c, idx in picked.items() if c not in skipped}
        if not picked:
            raise PhaseLensError(
                f"no class has the {need} images predicted as it that concepts need; give more images (--images)"
            )
    _check_rank(sp, picked, rank, on)
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
    names = dict(zip(plan.indices, plan.names))  # the names of the lens's class targets too
    classes = [c for c in plan.indices if c not in skipped]
    job = ConceptJob(im, sp, classes, names, pool, picked, settings, maco, concept_images, group, top_k, seed)
    job.skipped = skipped
    return job


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
    shard: Shard | None = None,
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
        group: classes per batched factorization and MACO call, cut at fixed places of the class list
            so that a resumed run makes the same groups. seed: every seed derives from it.
        config, overrides: MACO settings of the concept images; concept_images: False skips them.
        top_k: top crops per concept. progress: a progress bar of the classes.
        shard: make only this shard's classes (class i of the list is shard ``i % world``'s), as `run_lens`.

    Raises:
        PhaseLensError: bad input (before anything is written), or settings that differ from the folder's.
    """
    job = plan_concepts(
        model,
        targets,
        images=images,
        layer=layer,
        rank=rank,
        per_class=per_class,
        on=on,
        method=method,
        group=group,
        seed=seed,
        config=config,
        concept_images=concept_images,
        top_k=top_k,
        **overrides,
    )
    return make_concepts(job, out_dir, shard, progress)


def make_concepts(
    job: ConceptJob, out_dir: str | Path, shard: Shard | None = None, progress: bool = False
) -> ConceptsReport:
    """Make the classes of a `plan_concepts` job that are not complete yet (this shard's only);
    `progress`: a bar of this shard's classes."""
    start = time.time()
    shard = shard or Shard(0, 1)
    names = job.names
    with output_folder(out_dir) as out, ShardLock(out, shard):
        old = read_json(out / CONFIG)
        if isinstance(old, dict) and old.get("settings") != job.settings and any(out.glob(f"classes/*/{MANIFEST}")):
            raise PhaseLensError(f"{out} holds concepts made with other settings; use another --out folder")
        listed = list(dict.fromkeys([*(old or {}).get("classes", []), *(names[c] for c in job.classes)]))
        if not isinstance(old, dict) or old.get("settings") != job.settings or old.get("classes") != listed:
            atomic_write_json(out / CONFIG, dict(settings=job.settings, classes=listed))
        mine = [c for i, c in enumerate(job.classes) if shard.owns(i)]
        for c in mine:
            remove_temp_files(class_dir(out, names[c]))
        done = {c for c in mine if (class_dir(out, names[c]) / MANIFEST).is_file()}
        bar = tqdm(total=len(mine), initial=len(done), desc="concepts", unit="class", disable=not progress)
        for g in range(0, len(mine), job.group):
            # Groups are cut from the whole list and a group cut by a kill is made again whole (its
            # complete classes are not saved again): the same group-mates give the very same files.
            chunk = mine[g : g + job.group]
            if any(c not in done for c in chunk):
                _make_group(job, out, chunk, done)
                bar.update(sum(c not in done for c in chunk))
        bar.close()
        with FolderLock(out, "metrics"):  # shards finish in any order; each writes what is complete
            metrics = write_metrics(out, job.classes, names)
    made = len(mine) - len(done)
    return ConceptsReport(out, mine, made, len(done), round(time.time() - start, 2), metrics)


def _make_group(job: ConceptJob, out: Path, chunk: list[int], done: set[int]) -> None:
    """One batched factorization and MACO call for the classes of `chunk`, then the files of each
    class not in `done`."""
    im, sp, on = job.model, job.split, str(job.settings["on"])
    batch = [job.pool.take(job.picked[c]) for c in chunk]  # only this group's images in memory
    # The crop forwards are the costliest part: run them once for extraction and top crops.
    crops = [crop_activations(sp, b) for b in batch] if on == "crops" else [None] * len(batch)
    rows = [c[0] for c in crops] if on == "crops" else None  # type: ignore[index]
    rank, method = int(job.settings["rank"]), str(job.settings["method"])
    banks = extract_many(im, batch, chunk, sp.layer, rank, on, method, seed=job.seed, split=sp, rows=rows)
    pictures: list = [None] * len(banks)
    if job.concept_images:
        pictures = visualize_concepts(im, banks, job.maco, seed=job.seed)
    for c, bank, imgs, pic, cut in zip(chunk, banks, batch, pictures, crops):
        if c in done:
            continue
        save_class(out, job.names[c], c, bank, imgs, pic, cut, sp, job.pool, job.picked[c], job.top_k, job.seed)
