"""Making the lens: every target visualized, in batches, resumable, sharded.

Targets are cut into batches of B (one `visualize` call each: B targets x F
facets images, x K crops per forward pass). Batches are cut from this shard's
full target list at fixed places, so a resumed run re-forms the same batches
and makes the same images; complete targets are skipped.
"""

from __future__ import annotations

import os
import platform
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import nn

from ..errors import PhaseLensError
from ..io import transparency_alpha
from ..model import ImageModel, as_image_model, model_device_dtype
from ..render import DEFAULTS, default_image_size, visualize
from . import store
from .plan import Target, chunks, expand_targets, objective_for, target_seed
from .shard import Shard, shard_from_env

CPU_BATCH = 16  # targets per batch on CPU for inputs up to 96 x 96, fewer for bigger inputs
MAX_BATCH = 256


@dataclass
class LensReport:
    """What `run_lens` did.

    Attributes:
        out_dir: the lens folder. shard: the part of the targets this process owned.
        total: targets in the list; mine: this shard's share of them.
        made: targets made now; skipped: this shard's targets that were already complete.
        batch: targets per batch. seconds: wall time. site: ``site/index.html``, or None.
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


def _image_size(image_size, model: ImageModel) -> list[int]:
    if image_size is None:
        return list(default_image_size(model.input_size))
    if isinstance(image_size, int):
        return [image_size, image_size]
    return [int(s) for s in image_size]


def batch_from_probe(free: int, one: int, four: int, facets: int, targets: int, cap: int = MAX_BATCH) -> int:
    """Targets per batch that fit `free` bytes, from the peak memory of 1- and 4-image probes.

    The 4-image probe separates the per-image cost from the fixed cost; 80% of
    the free memory is used, to leave room for the allocator's fragmentation.
    """
    per_image = max((four - one) / 3.0, 1.0)
    fixed = max(one - per_image, 0.0)
    images = int((0.8 * free - fixed) // per_image)
    return max(1, min(images // max(facets, 1), cap, max(targets, 1)))


def cpu_batch(input_size: tuple[int, int]) -> int:
    """`CPU_BATCH` for small inputs, scaled down by input area (3 at 224 x 224).

    Batching pays on CPU too (a few times faster per target on zoo:cnn, see
    benchmarks/lens_batching.py), but memory grows with the batch, and a killed
    run loses the batch at work.
    """
    area = input_size[0] * input_size[1]
    return max(1, min(CPU_BATCH, round(CPU_BATCH * 96 * 96 / area)))


def auto_batch(model: ImageModel, first: Target, facets: int, targets: int, run_kwargs: dict) -> int:
    """Targets per batch for this device: on CUDA measured, on CPU `cpu_batch`."""
    device, _ = model_device_dtype(model)
    if device.type != "cuda":
        return max(1, min(cpu_batch(model.input_size), targets))
    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()
    free, _total = torch.cuda.mem_get_info(device)
    peaks = []
    for images in (1, 4):
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        probe = dict(run_kwargs, steps=2)
        visualize(model, objective_for([first] * images), seed=0, batch=images, **probe)
        peaks.append(torch.cuda.max_memory_allocated(device) - base)
    torch.cuda.empty_cache()
    return batch_from_probe(free, peaks[0], peaks[1], facets, targets)


def _is_oom(err: BaseException) -> bool:
    return isinstance(err, torch.cuda.OutOfMemoryError) or "out of memory" in str(err).lower()


def _downsample(values: Sequence[float], points: int = 64) -> list[float]:
    n = len(values)
    if n <= points:
        picks = range(n)
    else:
        picks = sorted({round(i * (n - 1) / (points - 1)) for i in range(points)})
    return [float(f"{float(values[i]):.5g}") for i in picks]


class _Bar:
    """tqdm over *all* targets of the folder (every shard): complete manifests, plus
    the steps done in the batch at work, so the ETA moves during long batches."""

    FORMAT = "{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]"

    def __init__(self, out: Path, names: list[str], enabled: bool) -> None:
        self.out, self.names, self.bar, self.base = out, names, None, 0
        if enabled:
            from tqdm.auto import tqdm

            self.base = self.complete()
            self.bar = tqdm(total=len(names), initial=self.base, desc=self._desc(), unit="target",
                            dynamic_ncols=True, bar_format=self.FORMAT)

    def _desc(self) -> str:
        return f"lens, {self.base}/{len(self.names)} targets done"

    def complete(self) -> int:
        return sum((store.target_dir(self.out, n) / store.MANIFEST).is_file() for n in self.names)

    def step(self, targets: int, fraction: float) -> None:
        """`fraction` of a batch of `targets` is done."""
        if self.bar is not None:
            self.bar.update(self.base + targets * fraction - self.bar.n)

    def refresh(self) -> None:
        if self.bar is not None:
            # Files of the last batch may still be being written: never move back.
            self.base = max(self.complete(), round(self.bar.n))
            self.bar.set_description_str(self._desc(), refresh=False)
            self.bar.update(self.base - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _versions() -> dict[str, str]:
    from .. import __version__

    return {"phaselens": __version__, "torch": torch.__version__, "python": platform.python_version()}


def run_lens(
    model: nn.Module,
    out_dir: str | Path,
    targets: str | Sequence[int] = "class:all",
    *,
    batch: int | None = None,
    facets: int = 1,
    seed: int = 0,
    method: str = "maco",
    steps: int = DEFAULTS["steps"],
    image_size: int | tuple[int, int] | None = None,
    crops: int = DEFAULTS["crops"],
    spectrum: str | None = None,
    images: str | Path | None = None,
    top_k: int = 8,
    shard: Shard | str | None = None,
    progress: bool = True,
    site: bool = True,
    title: str | None = None,
    **options: Any,
) -> LensReport:
    """Visualize every target of `targets` into `out_dir`, skipping those already complete.

    Args:
        model: an `ImageModel` (or any classifier; see `as_image_model`), on its device.
        out_dir: the lens folder (created; reused to resume).
        targets: a spec (``class:all``, ``class:0-9``, ``channel:LAYER:0-63``,
            ``channel:LAYER:all``) or class indices.
        batch: targets per `visualize` call; None picks one for the device.
        facets: images per target, each from its own seed.
        seed: base seed; each image's seed derives from (seed, target key, facet).
        method, steps, image_size, crops, spectrum, **options: passed to `visualize`
            (options: crop_size, crop_center_std, noise, lr, fourier_decay, amp, channels_last).
        images: an ImageFolder-style folder; adds each target's top-`top_k` natural images.
        shard: ``"I/N"`` or a `Shard`; None reads torchrun / Slurm variables.
        progress: a progress bar (on local rank 0 only).
        site: build ``out_dir/site`` at the end. title: the site's title.

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
    from .shard import parse_shard

    shard = parse_shard(shard) if isinstance(shard, str) else (shard or shard_from_env())
    im = as_image_model(model)
    plan = expand_targets(targets, im)
    out = Path(out_dir)
    store.targets_dir(out).mkdir(parents=True, exist_ok=True)
    size = _image_size(image_size, im)
    run_kwargs = dict(method=method, steps=steps, image_size=tuple(size), crops=crops, spectrum=spectrum, **options)
    settings = dict(
        model=im.name, method=method, steps=steps, image_size=size, crops=crops,
        crop_size=list(options.get("crop_size", DEFAULTS["crop_size"])),
        crop_center_std=options.get("crop_center_std", DEFAULTS["crop_center_std"]),
        noise=options.get("noise", DEFAULTS["noise"]), lr=options.get("lr", DEFAULTS["lr"]), seed=seed,
        facets=facets, spectrum=(str(spectrum) if spectrum else "default") if method == "maco" else None,
        fourier_decay=options.get("fourier_decay", 1.0) if method == "fourier" else None,
        input_size=list(im.input_size), mean=list(im.preprocess.mean), std=list(im.preprocess.std),
        optimizer="NAdam",
    )
    if title:
        settings["title"] = title
    with store.ShardLock(out, shard):
        store.check_config(out, settings, [t.name for t in plan])
        mine = [t for i, t in enumerate(plan) if shard.owns(i)]
        for t in mine:
            store.remove_temp_files(store.target_dir(out, t.name))
        todo = {t.name for t in mine if store.read_complete(out, t.name) is None}
        b = batch or (auto_batch(im, plan[0], facets, len(todo), run_kwargs) if todo else 1)
        bar = _Bar(out, [t.name for t in plan], progress and shard.local_rank == 0)
        job = _Job(im, out, facets, seed, run_kwargs, settings, str(shard), bar, _Writer())
        made = 0
        try:
            for group in chunks(mine, b):
                group = [t for t in group if t.name in todo]
                if group:
                    made += _make(job, group)
                    bar.refresh()
        finally:
            job.writer.close()  # even when interrupted: what was made is kept
            bar.close()
        if images is not None:
            from .natural import add_natural_images

            add_natural_images(im, out, mine, images, top_k)
    report = LensReport(out, shard, len(plan), len(mine), made, len(mine) - len(todo), b, 0.0,
                        names=[t.name for t in plan])
    if site:
        from .site import build_site

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
    run_kwargs: dict
    settings: dict
    shard: str
    bar: _Bar
    writer: "_Writer"


class _Writer:
    """Saves targets on background threads while the device works on the next batch.

    PNG encoding and fsync release the GIL, so on a GPU the saving (a good part
    of a batch's time for large images) overlaps the next batch. Each target's
    manifest is still written after its images, so a kill loses only unsaved
    targets, which a resumed run redoes. At most `depth` batches wait, so memory
    stays bounded; a failed save is raised at the next submit or at close.
    """

    def __init__(self, threads: int | None = None, depth: int = 2) -> None:
        self.pool = ThreadPoolExecutor(threads or min(4, os.cpu_count() or 1), thread_name_prefix="lens-save")
        self.batches: deque[list[Future]] = deque()
        self.depth = depth

    def submit(self, saves: list[tuple]) -> None:
        """Queue one batch of `_save` argument tuples."""
        self.batches.append([self.pool.submit(_save, *args) for args in saves])
        while len(self.batches) > self.depth:
            for f in self.batches.popleft():
                f.result()

    def close(self) -> None:
        try:
            while self.batches:
                for f in self.batches.popleft():
                    f.result()
        finally:
            self.pool.shutdown(wait=True)


def _save(out: Path, manifest: dict, images: torch.Tensor, transparency: torch.Tensor) -> None:
    try:
        store.save_target(out, manifest, images, transparency_alpha(transparency))
    except OSError as err:
        raise PhaseLensError(f"could not save target {manifest['name']} in {out}: {err}") from err


def _make(job: _Job, group: list[Target]) -> int:
    """Visualize one batch and save each target; on CUDA out-of-memory, retry in halves."""
    try:
        return _make_batch(job, group)
    except RuntimeError as err:
        if not _is_oom(err) or len(group) == 1:
            raise
        torch.cuda.empty_cache()
        half = len(group) // 2
        return _make(job, group[:half]) + _make(job, group[half:])


def _make_batch(job: _Job, group: list[Target]) -> int:
    start = time.time()
    facets = job.facets
    per_image = [t for t in group for _ in range(facets)]
    seeds = [target_seed(job.seed, t.key, f) for t in group for f in range(facets)]
    steps = job.run_kwargs["steps"]
    result = visualize(job.model, objective_for(per_image), seed=seeds, batch=len(seeds),
                       callback=lambda step, _scores: job.bar.step(len(group), (step + 1) / steps), **job.run_kwargs)
    seconds = (time.time() - start) / len(group)
    # The last step's score is one draw of random crops; the mean of the last eighth is steadier.
    window = max(1, steps // 8)
    steady = result.trace[-window:].mean(dim=0)
    saves = []
    for i, t in enumerate(group):
        rows = range(i * facets, (i + 1) * facets)
        manifest = dict(
            version=1, name=t.name, key=t.key, label=t.label, kind=t.kind, index=t.index, layer=t.layer,
            score=float(steady[rows[0]]),  # the score of image.png, the one the index shows
            score_window=window,
            facets=[dict(facet=f, seed=seeds[r], score=float(steady[r]), final_score=float(result.trace[-1, r]),
                         trace=_downsample(result.trace[:, r].tolist()))
                    for f, r in enumerate(rows)],
            settings=job.settings, shard=job.shard, seconds=round(seconds, 3), batch=len(group),
            versions=_versions(), created=time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        )
        cut = slice(rows.start, rows.stop)
        saves.append((job.out, manifest, result.images[cut], result.transparency[cut]))
    job.writer.submit(saves)
    return len(group)
