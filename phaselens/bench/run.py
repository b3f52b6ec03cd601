"""Run the benchmark: visualize every class of each model with each method, then
score the images with every evaluator, with and without the transparency mask.

One `visualize` call per (model, method) makes all classes for all seeds in one
batch (images do not depend on their batch-mates, so this equals running them
one by one). Visualizations are quantized to uint8, as saved PNGs would be, and
cached in the output folder, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm.auto import tqdm

from ..config import RunConfig
from ..errors import PhaseLensError
from ..features import model_output
from ..model import ImageModel
from ..render import visualize
from ..transfer import classify
from . import cache as vis_cache
from . import metrics
from .data import Reference
from .features import features

DEFAULT_MODELS = ("zoo:cnn", "zoo:vit", "zoo:mixer")
DEFAULT_METHODS = ("maco", "fourier", "pixel")
NATURAL = "natural"  # the reference row: held-out natural images scored like visualizations
SCORES = ("plausibility", "margin", "rank_accuracy", "fid", "transfer")


@dataclass
class BenchConfig:
    """What to run.

    Attributes:
        methods: parameterizations to compare (each replaces ``run.method``).
        seeds: visualizations per class (seeds 0..seeds-1).
        run: the optimization settings given to `visualize` (steps, image size, crops, lr, spectrum, ...).
        fid_dims: FID is computed in the top `fid_dims` principal directions of
            each evaluator's natural-image features (see docs/benchmark.md).
        natural_row: also score held-out natural images, as a reference.
    """

    methods: tuple[str, ...] = DEFAULT_METHODS
    seeds: int = 2
    run: RunConfig = field(default_factory=RunConfig)
    fid_dims: int = 8
    natural_row: bool = True

    def manifest(self) -> dict:
        """The settings as JSON values, for the run's manifest."""
        return dict(
            methods=list(self.methods),
            seeds=self.seeds,
            run=self.run.manifest(),
            fid_dims=self.fid_dims,
            natural_row=self.natural_row,
        )


@dataclass
class Visualizations:
    """The images of one (model, method): uint8-quantized, with their alpha masks.

    Shape: images (B, C, H, W) and alpha (B, 1, H, W) in [0, 1]; targets, seeds (B,).
    """

    images: torch.Tensor
    alpha: torch.Tensor
    targets: list[int]
    seeds: list[int]
    seconds: float = 0.0
    cached: bool = False


@dataclass
class BenchResult:
    """Per-(model, method, seed, evaluator, mask) score rows, and run facts."""

    rows: list[dict]
    visualizations: dict[tuple[str, str], Visualizations]
    seconds: dict[str, float] = field(default_factory=dict)


def _quantize(x: torch.Tensor) -> torch.Tensor:
    return (x.clamp(0, 1) * 255).round() / 255


def make_visualizations(
    model: ImageModel,
    method: str,
    classes: list[int],
    cfg: BenchConfig,
    cache: Path | None = None,
    on_step: Callable[[], None] | None = None,
) -> Visualizations:
    """All classes x seeds of one model and method, in one batch (or from `cache`)."""
    run = cfg.run.replace(method=method)
    key = vis_cache.cache_key(model, run, classes, cfg.seeds)
    path = vis_cache.cache_path(cache, model, key) if cache else None
    saved = vis_cache.load(path, key) if path is not None else None
    if saved is not None:
        return Visualizations(
            saved["images"].float() / 255,
            saved["alpha"].float() / 255,
            saved["targets"],
            saved["seeds"],
            float(saved["seconds"]),
            cached=True,
        )
    seeds = [s for s in range(cfg.seeds) for _ in classes]
    targets = list(classes) * cfg.seeds
    start = time.perf_counter()
    result = visualize(model, targets, run, seed=seeds, callback=(lambda step, scores: on_step()) if on_step else None)
    seconds = time.perf_counter() - start
    vis = Visualizations(_quantize(result.images), _quantize(result.alpha()), targets, seeds, seconds)
    if path is not None:
        vis_cache.save(path, key, vis.images, vis.alpha, targets, seeds, seconds)
    return vis


@dataclass
class EvaluatorData:
    """An evaluator with its natural-image features and FID subspace."""

    model: ImageModel
    natural: torch.Tensor
    basis: tuple[torch.Tensor, torch.Tensor]


def prepare_evaluators(evaluators: dict[str, ImageModel], ref: Reference, fid_dims: int) -> dict[str, EvaluatorData]:
    """Natural-image features and PCA basis of every evaluator (computed once)."""
    out = {}
    for name, model in evaluators.items():
        nat = features(model, ref.images)
        out[name] = EvaluatorData(model, nat, metrics.pca_basis(nat, fid_dims))
    return out


def score(
    images: torch.Tensor,
    targets: list[int],
    seeds: list[int],
    ev: EvaluatorData,
    ref: Reference,
    classes: int,
) -> list[dict]:
    """One row of scores per seed, for one image set under one evaluator."""
    feats = features(ev.model, images)
    preds = classify(ev.model, images)
    t = torch.tensor(targets)
    rows = []
    for s in sorted(set(seeds)):
        idx = torch.tensor([i for i, v in enumerate(seeds) if v == s])
        p = metrics.plausibility(feats[idx], t[idx], ev.natural, ref.labels, classes)
        rows.append(
            dict(
                seed=s,
                n=len(idx),
                **p,
                fid=metrics.fid(feats[idx], ev.natural, ev.basis) if len(idx) >= 2 else float("nan"),
                transfer=metrics.transferability(preds[idx], t[idx]),
            )
        )
    return rows


def num_logits(model: ImageModel) -> int:
    """The model's number of outputs, from one forward pass on a grey image."""
    out = model_output(model, fill=0.5)
    if out.ndim != 2:
        raise PhaseLensError(f"{model.name} does not return (N, classes) logits")
    return int(out.shape[1])


def check_classes(models: dict[str, ImageModel], classes: list[int]) -> int:
    """All models must share one label space that holds every class; returns its size."""
    counts = {name: num_logits(m) for name, m in models.items()}
    if len(set(counts.values())) != 1:
        raise PhaseLensError(f"models disagree on the number of classes: {counts}")
    n = next(iter(counts.values()))
    if not classes or max(classes) >= n or min(classes) < 0:
        raise PhaseLensError(f"image classes {classes[:5]}... do not fit models with {n} classes")
    if len(classes) < 2:
        raise PhaseLensError("the benchmark needs natural images of at least 2 classes")
    return n


def natural_set(ref: Reference, seeds: int) -> tuple[torch.Tensor, list[int], list[int]] | None:
    """Held-out natural images arranged like visualizations: seed s holds the s-th image of each class."""
    if ref.holdout is None:
        return None
    picks: list[int] = []
    targets: list[int] = []
    seed_of: list[int] = []
    assert ref.holdout_labels is not None
    labels = ref.holdout_labels.tolist()
    for k in ref.classes:
        of_k = [i for i, y in enumerate(labels) if y == k]
        for s, i in enumerate(of_k[:seeds]):
            picks.append(i)
            targets.append(k)
            seed_of.append(s)
    if not picks:
        return None
    return ref.holdout[picks], targets, seed_of


def run_bench(
    models: dict[str, ImageModel],
    evaluators: dict[str, ImageModel],
    ref: Reference,
    cfg: BenchConfig,
    cache: Path | None = None,
    progress: bool = True,
) -> BenchResult:
    """Visualize, then score with every evaluator (the model itself included, flagged ``self_eval``).

    Args:
        models: spec -> model to visualize.
        evaluators: spec -> model that scores; may overlap `models`.
        ref: natural images (`procedural_reference` or `folder_reference`).
        cfg: the settings.
        cache: folder for resumable visualizations, or None.

    Returns:
        A `BenchResult`; each row has model, method, seed, evaluator, self_eval,
        masked and the `SCORES`.
    """
    classes = check_classes({**models, **evaluators}, ref.classes)
    evs = prepare_evaluators(evaluators, ref, cfg.fid_dims)
    jobs = [(spec, method) for spec in models for method in cfg.methods]
    steps = cfg.run.steps
    bar = tqdm(total=len(jobs) * steps, unit="step", desc="bench", disable=not progress)
    rows: list[dict] = []
    visuals: dict[tuple[str, str], Visualizations] = {}
    seconds: dict[str, float] = {}
    try:
        for spec, method in jobs:
            bar.set_description(f"{spec} {method}")
            done = [0]

            def tick(done: list[int] = done) -> None:
                done[0] += 1
                bar.update(1)

            vis = make_visualizations(models[spec], method, ref.classes, cfg, cache, tick)
            bar.update(steps - done[0])
            visuals[(spec, method)] = vis
            seconds[f"{spec} {method}"] = round(vis.seconds, 1)
            for masked in (False, True):
                imgs = metrics.apply_mask(vis.images, vis.alpha) if masked else vis.images
                for ev_name, ev in evs.items():
                    for r in score(imgs, vis.targets, vis.seeds, ev, ref, classes):
                        rows.append(
                            dict(
                                model=spec,
                                method=method,
                                evaluator=ev_name,
                                self_eval=ev_name == spec,
                                masked=masked,
                                **r,
                            )
                        )
        nat = natural_set(ref, cfg.seeds) if cfg.natural_row else None
        if nat is not None:
            imgs, targets, seed_of = nat
            for ev_name, ev in evs.items():
                scored = score(imgs, targets, seed_of, ev, ref, classes)
                for spec in models:  # the same images; repeated per model so each table has its reference
                    for masked in (False, True):  # natural images have no mask: alpha = 1
                        rows += [
                            dict(
                                model=spec,
                                method=NATURAL,
                                evaluator=ev_name,
                                self_eval=ev_name == spec,
                                masked=masked,
                                **r,
                            )
                            for r in scored
                        ]
    finally:
        bar.close()
    return BenchResult(rows, visuals, seconds)
