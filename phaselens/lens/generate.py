"""Making the lens: every target visualized, in batches, resumable, sharded.

Targets are cut into batches of B (one `visualize` call each: B targets x F
facets images, x K crops per forward pass). Batches are cut from this shard's
full target list at fixed places, so a resumed run re-forms the same batches
and makes the same images; complete targets are skipped. Batch sizes come from
`batching`, saving happens on the background threads of `writer`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..concepts.run import make_concepts
from ..config import DEFAULT, RunConfig
from ..errors import PhaseLensError
from ..imagefiles import list_images
from ..io import output_folder, remove_temp_files
from ..locks import ShardLock
from ..memory import check_run
from ..model import ImageModel, as_image_model
from ..objectives import Objective
from ..render import optimize
from ..shard import Shard, parse_shard, shard_from_env
from ..util import versions
from . import store
from .accentuated import add_accentuations
from .batching import auto_batch, is_oom
from .concept_pages import concepts_dir
from .concept_step import concept_job_of
from .manifest import Facet, Manifest, downsample
from .natural import add_natural_images
from .plan import Target, chunks, expand_targets, facet_diversity, objective_for, objective_stop, target_seed
from .progress import Bar
from .site import build_site
from .writer import Writer


@dataclass
class LensReport:
    """What `run_lens` did.

    Attributes:
        out_dir: the lens folder. shard: the part of the targets this process owned.
        total: targets in the list; mine: this shard's share of them.
        made: targets made now; skipped: this shard's targets that were already complete.
        batch: targets per batch. seconds: wall time. site: ``site/index.html``, or None.
        failed: target name -> error, for targets whose objective diverged now (marked with
            ``failed.json``; a resumed run retries them). The others are made as usual.
        no_concepts: with concepts, class target name -> images predicted as it, for the classes with
            too few images to extract concepts from (their pages have none).
    """

    out_dir: Path
    shard: Shard
    total: int
    mine: int
    made: int
    skipped: int
    batch: int
    seconds: float
    site: Path | None = None
    names: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    no_concepts: dict[str, int] = field(default_factory=dict)


def run_lens(
    model: nn.Module,
    out_dir: str | Path,
    targets: str | Sequence[int] = "class:all",
    config: RunConfig | None = None,
    *,
    batch: int | None = None,
    facets: int = 1,
    seed: int = 0,
    images: str | Path | None = None,
    top_k: int = 8,
    shard: Shard | str | None = None,
    progress: bool = True,
    site: bool = True,
    title: str | None = None,
    concepts: bool | Mapping[str, Any] = False,
    diversity: float = 0.0,
    diversity_layer: str | None = None,
    accentuate: int = 0,
    **overrides: Any,
) -> LensReport:
    """Visualize every target of `targets` into `out_dir`, skipping those already complete.

    Args:
        model: an `ImageModel` (or any classifier; see `as_image_model`), on its device.
        out_dir: the lens folder (created; reused to resume).
        targets: a spec (``class:all``, ``class:0-9``, ``channel:LAYER:0-63``,
            ``channel:LAYER:all``) or class indices.
        config: the optimization settings (`RunConfig`); **overrides replace any of
            its fields (``method``, ``steps``, ``image_size``, ``crops``, ``spectrum``, ...).
        batch: targets per `visualize` call; None picks one for the device.
        facets: images per target, each from its own seed.
        seed: base seed; each image's seed derives from (seed, target key, facet).
        images: an ImageFolder-style folder; adds each target's top-`top_k` natural images.
        shard: ``"I/N"`` or a `Shard`; None reads torchrun / Slurm variables.
        progress: a progress bar (on local rank 0 only).
        site: build ``out_dir/site`` at the end. title: the site's title.
        concepts: True, or options of `phaselens.concepts.run_concepts` (``layer``, ``rank``,
            ``per_class``, ``on``, ``method``, ``group``, ``top_k``): also extract every class's
            concepts into ``out_dir/concepts`` (their images from `images`, or the zoo's own), with MACO
            images made with this run's settings, and add them to the class pages. Sharded and
            resumable like the targets; bad options are refused before anything is made.
        accentuate: with `images`, also accentuate each target in its top `accentuate` natural images.
        diversity, diversity_layer: with facets > 1, add `phaselens.diversity` of this weight at this
            layer (default: the last before global pooling), so the facets of a target differ.

    Returns:
        A `LensReport`.

    Raises:
        PhaseLensError: bad targets or settings, settings that differ from the
            folder's, or another run holding this shard.

    Example:
        >>> report = run_lens(model, "lens/", "class:all", steps=64)   # doctest: +SKIP
        >>> report.site                                                 # doctest: +SKIP
        PosixPath('lens/site/index.html')
    """
    start = time.time()
    if facets < 1:
        raise PhaseLensError(f"facets must be >= 1, got {facets}")
    if batch is not None and batch < 1:
        raise PhaseLensError(f"batch must be >= 1, got {batch}")
    if accentuate and images is None:
        raise PhaseLensError("accentuate needs natural images: give images (--images DIR)")
    cfg = (config or DEFAULT).replace(**overrides)
    shard = parse_shard(shard) if isinstance(shard, str) else (shard or shard_from_env())
    im = as_image_model(model)
    plan = expand_targets(targets, im)
    cfg = cfg.replace(image_size=cfg.image_shape(im.input_size))  # fixed now: the folder records it
    stop_at = objective_stop(plan[0])
    check_run(im, cfg, facets, stop_at)  # one target must fit before anything is written
    if images is not None:
        list_images(images)  # a folder without images is refused now, not after the run
    concept_job = concept_job_of(im, plan, concepts, images, cfg, seed)
    spread = facet_diversity(im, plan, facets, diversity, diversity_layer)
    settings = dict(
        cfg.manifest(im.input_size),
        model=im.name,
        seed=seed,
        facets=facets,
        diversity=spread.description if spread is not None else None,
        input_size=list(im.input_size),
        mean=list(im.preprocess.mean),
        std=list(im.preprocess.std),
    )
    if title:
        settings["title"] = title
    with output_folder(out_dir) as out, ShardLock(out, shard):
        store.targets_dir(out).mkdir(parents=True, exist_ok=True)
        store.check_config(out, settings, [t.name for t in plan])
        mine = [t for i, t in enumerate(plan) if shard.owns(i)]
        for t in mine:
            remove_temp_files(store.target_dir(out, t.name))
        todo = {t.name for t in mine if store.read_complete(out, t.name) is None}
        # From the shard's whole list, not what is left: a resumed run cuts the same batches.
        b = batch or (auto_batch(im, plan[0], facets, len(mine), cfg) if todo else 1)
        bar = Bar(out, [t.name for t in plan], progress and shard.local_rank == 0)
        job = _Job(im, out, facets, seed, cfg, settings, str(shard), bar, Writer(), spread)
        made = 0
        try:
            for group in chunks(mine, b):
                # A batch cut by a kill is made again whole (its complete targets are not saved again):
                # the same batch-mates make the very same images.
                if any(t.name in todo for t in group):
                    made += _make(job, group, todo)
                    bar.refresh()
        finally:
            job.writer.close()  # even when interrupted: what was made is kept
            bar.close()
        if images is not None:
            add_natural_images(im, out, [t for t in mine if t.name not in job.failed], images, top_k)
            if accentuate:
                add_accentuations(im, out, [t for t in mine if t.name not in job.failed], images, accentuate, seed)
        if concept_job is not None:
            make_concepts(concept_job, concepts_dir(out), shard, progress and shard.local_rank == 0)
    names, failed = [t.name for t in plan], dict(job.failed)
    report = LensReport(out, shard, len(plan), len(mine), made, len(mine) - len(todo), b, 0.0, None, names, failed)
    if concept_job is not None:
        report.no_concepts = {concept_job.names[c]: n for c, n in concept_job.skipped.items()}
    if site:
        report.site = build_site(out, title=title)
    report.seconds = round(time.time() - start, 2)
    return report


@dataclass
class _Job:
    """What every batch of one run shares."""

    model: ImageModel
    out: Path
    facets: int
    seed: int
    config: RunConfig
    settings: dict
    shard: str
    bar: Bar
    writer: Writer
    spread: Objective | None = None
    failed: dict[str, str] = field(default_factory=dict)


def _make(job: _Job, group: list[Target], todo: set[str]) -> int:
    """Visualize one batch and save each target of `todo`; on CUDA out-of-memory, retry in halves."""
    try:
        return _make_batch(job, group, todo)
    except RuntimeError as err:
        if not is_oom(err) or len(group) == 1:
            raise
        torch.cuda.empty_cache()
        half = len(group) // 2
        return _make(job, group[:half], todo) + _make(job, group[half:], todo)


def _make_batch(job: _Job, group: list[Target], todo: set[str]) -> int:
    start = time.time()
    facets = job.facets
    per_image = [t for t in group for _ in range(facets)]
    seeds = [target_seed(job.seed, t.key, f) for t in group for f in range(facets)]
    steps = job.config.steps
    objective = objective_for(per_image)
    result = optimize(
        job.model,
        objective if job.spread is None else objective + job.spread,
        job.config,
        seed=seeds,
        batch=len(seeds),
        callback=lambda step, _scores: job.bar.step(len(group), (step + 1) / steps),
    )
    seconds = (time.time() - start) / len(group)
    # The last step's score is one draw of random crops; the mean of the last eighth is steadier.
    window = max(1, steps // 8)
    steady = result.trace[-window:].mean(dim=0)
    saves = []
    made = 0
    for i, t in enumerate(group):
        if t.name not in todo:
            continue
        rows = range(i * facets, (i + 1) * facets)
        bad = {r - rows.start: result.diverged[r] for r in rows if r in result.diverged}
        manifest = Manifest(
            name=t.name,
            key=t.key,
            label=t.label,
            kind=t.kind,
            index=t.index,
            layer=t.layer,
            score=float(steady[rows[0]]),  # the score of image.png, the one the index shows
            score_window=window,
            facets=[
                Facet(
                    facet=f,
                    seed=seeds[r],
                    score=float(steady[r]),
                    final_score=float(result.trace[-1, r]),
                    trace=downsample(result.trace[:, r].tolist()),
                )
                for f, r in enumerate(rows)
            ],
            settings=job.settings,
            shard=job.shard,
            seconds=round(seconds, 3),
            batch=len(group),
            versions=versions(),
            created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        )
        if bad:
            step = min(bad.values())
            error = f"the objective became NaN or infinite at step {step} (facets {sorted(bad)})"
            manifest.failed = dict(step=step, facets=sorted(bad), error=error)
            store.save_failed(job.out, manifest)
            job.failed[t.name] = error
            continue
        cut = slice(rows.start, rows.stop)
        saves.append((job.out, manifest, result.images[cut], result.transparency[cut]))
        made += 1
    job.writer.submit(saves)
    return made
