"""Run the benchmark: visualize every class of each model with each method, then
score the images with every evaluator, with and without the transparency mask.

One `visualize` call per (model, method) makes all classes for all seeds in one
batch (images do not depend on their batch-mates, so this equals running them
one by one). Visualizations are quantized to uint8, as saved PNGs would be, and
cached in the output folder, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch

from ..errors import PhaseLensError
from ..model import ImageModel
from . import metrics
from .data import Reference
from .features import features

DEFAULT_MODELS = ("zoo:cnn", "zoo:vit", "zoo:mixer")
DEFAULT_METHODS = ("maco", "fourier", "pixel")
NATURAL = "natural"  # the reference row: held-out natural images scored like visualizations
SCORES = ("plausibility", "margin", "rank_accuracy", "fid", "transfer")


@dataclass
class BenchConfig:
    """What to run. `steps`, `seeds` and the crop settings go to `visualize` unchanged.

    Attributes:
        methods: parameterizations to compare.
        seeds: visualizations per class (seeds 0..seeds-1).
        steps, image_size, crops, crop_size, lr, spectrum: see `phaselens.visualize`.
        fid_dims: FID is computed in the top `fid_dims` principal directions of
            each evaluator's natural-image features (see docs/benchmark.md).
        natural_row: also score held-out natural images, as a reference.
    """

    methods: tuple[str, ...] = DEFAULT_METHODS
    seeds: int = 2
    steps: int = 256
    image_size: int | None = None
    crops: int = 6
    crop_size: tuple[float, float] = (0.20, 0.30)
    lr: float = 1.0
    spectrum: str | None = None
    fid_dims: int = 8
    natural_row: bool = True


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


def _file_digest(path: str | None) -> str | None:
    if path is None:
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def model_digest(model: ImageModel) -> str:
    """A hash of the weights and preprocessing, so retrained weights never reuse a cached image."""
    h = hashlib.sha256(repr((model.name, model.preprocess)).encode())
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def cache_key(model: ImageModel, method: str, cfg: BenchConfig, classes: list[int]) -> dict:
    """Everything a cached visualization depends on."""
    from .. import __version__

    return dict(
        model=model.name, weights=model_digest(model), method=method, classes=classes, seeds=cfg.seeds, steps=cfg.steps,
        image_size=cfg.image_size, crops=cfg.crops, crop_size=list(cfg.crop_size), lr=cfg.lr,
        spectrum=_file_digest(cfg.spectrum) if method == "maco" else None, version=__version__,
    )


def make_visualizations(
    model: ImageModel, method: str, classes: list[int], cfg: BenchConfig,
    cache: Path | None = None, on_step: Callable[[], None] | None = None,
) -> Visualizations:
    """All classes x seeds of one model and method, in one batch (or from `cache`)."""
    from ..render import visualize

    key = cache_key(model, method, cfg, classes)
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    path = cache / f"{_slug(model.name)}_{method}_{digest}.pt" if cache else None
    if path is not None and path.is_file():
        saved = torch.load(path, weights_only=True)
        if saved.get("key") == json.dumps(key, sort_keys=True):
            return Visualizations(saved["images"].float() / 255, saved["alpha"].float() / 255,
                                  saved["targets"], saved["seeds"], float(saved["seconds"]), cached=True)
    seeds = [s for s in range(cfg.seeds) for _ in classes]
    targets = list(classes) * cfg.seeds
    start = time.perf_counter()
    result = visualize(
        model, targets, method=method, steps=cfg.steps, image_size=cfg.image_size, crops=cfg.crops,
        crop_size=tuple(cfg.crop_size), lr=cfg.lr, seed=seeds, spectrum=cfg.spectrum,
        callback=(lambda step, scores: on_step()) if on_step else None,
    )
    seconds = time.perf_counter() - start
    vis = Visualizations(_quantize(result.images), _quantize(result.alpha()), targets, seeds, seconds)
    if path is not None:
        import io

        from ..io import atomic_write_bytes

        buf = io.BytesIO()
        torch.save(dict(key=json.dumps(key, sort_keys=True), images=(vis.images * 255).round().to(torch.uint8),
                        alpha=(vis.alpha * 255).round().to(torch.uint8), targets=targets, seeds=seeds,
                        seconds=seconds), buf)
        atomic_write_bytes(path, buf.getvalue())
    return vis


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "_" for c in name)


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
    images: torch.Tensor, targets: list[int], seeds: list[int], ev: EvaluatorData, ref: Reference, classes: int,
) -> list[dict]:
    """One row of scores per seed, for one image set under one evaluator."""
    from ..transfer import classify

    feats = features(ev.model, images)
    preds = classify(ev.model, images)
    t = torch.tensor(targets)
    rows = []
    for s in sorted(set(seeds)):
        idx = torch.tensor([i for i, v in enumerate(seeds) if v == s])
        p = metrics.plausibility(feats[idx], t[idx], ev.natural, ref.labels, classes)
        rows.append(dict(
            seed=s, n=len(idx), **p,
            fid=metrics.fid(feats[idx], ev.natural, ev.basis) if len(idx) >= 2 else float("nan"),
            transfer=metrics.transferability(preds[idx], t[idx]),
        ))
    return rows


def num_logits(model: ImageModel) -> int:
    """The model's number of outputs, from one forward pass on a grey image."""
    from ..model import model_device_dtype
    from ..render import frozen

    device, dtype = model_device_dtype(model)
    with frozen(model), torch.no_grad():
        out = model(torch.full((1, model.channels, *model.input_size), 0.5, device=device, dtype=dtype))
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
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
    picks, targets, seed_of = [], [], []
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
    bar = _bar(len(jobs) * cfg.steps, progress)
    rows: list[dict] = []
    visuals: dict[tuple[str, str], Visualizations] = {}
    seconds: dict[str, float] = {}
    try:
        for spec, method in jobs:
            bar.set_description(f"{spec} {method}")
            done = [0]

            def tick() -> None:
                done[0] += 1
                bar.update(1)

            vis = make_visualizations(models[spec], method, ref.classes, cfg, cache, tick)
            bar.update(cfg.steps - done[0])
            visuals[(spec, method)] = vis
            seconds[f"{spec} {method}"] = round(vis.seconds, 1)
            for masked in (False, True):
                imgs = metrics.apply_mask(vis.images, vis.alpha) if masked else vis.images
                for ev_name, ev in evs.items():
                    for r in score(imgs, vis.targets, vis.seeds, ev, ref, classes):
                        rows.append(dict(model=spec, method=method, evaluator=ev_name,
                                         self_eval=ev_name == spec, masked=masked, **r))
        nat = natural_set(ref, cfg.seeds) if cfg.natural_row else None
        if nat is not None:
            imgs, targets, seed_of = nat
            for ev_name, ev in evs.items():
                scored = score(imgs, targets, seed_of, ev, ref, classes)
                for spec in models:  # the same images; repeated per model so each table has its reference
                    for masked in (False, True):  # natural images have no mask: alpha = 1
                        rows += [dict(model=spec, method=NATURAL, evaluator=ev_name, self_eval=ev_name == spec,
                                      masked=masked, **r) for r in scored]
    finally:
        bar.close()
    return BenchResult(rows, visuals, seconds)


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def set_description(self, text: str) -> None:
        pass

    def close(self) -> None:
        pass


def _bar(total: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="step", desc="bench")
