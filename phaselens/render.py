"""The optimization loop: (model, objective, RunConfig) -> images, transparency, trace.

Each step renders the B images, cuts K crops of each, runs the B x K crops
through the model in one forward pass, and ascends the objective averaged over
each image's crops. The model is frozen (eval mode, no weight gradients) during
the run and restored after. Transparency accumulates |d score / d image| at full
resolution, the attribution map of the MACO paper.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import torch
from PIL import Image
from torch import nn
from tqdm.auto import tqdm

from .average import ParamAverage
from .config import DEFAULT, OPTIMIZERS, RunConfig, default_image_size
from .errors import NonFiniteError, PhaseLensError
from .features import LayerReader
from .io import make_grid, save_result, to_uint8, transparency_alpha
from .memory import check_run
from .model import ImageModel, as_image_model, frozen, model_device_dtype
from .objectives import Objective, Targets, as_objective
from .param import make_param
from .rng import SeedGroups, check_seed
from .transforms import CropConfig, augment

__all__ = ["DEFAULTS", "Result", "default_image_size", "evaluate", "frozen", "optimize", "visualize"]

CHECK_EVERY = 16  # steps between looks for non-finite scores (each look waits for the device)

# The defaults as keyword arguments, for code written against the keyword style (read from `RunConfig`).
DEFAULTS = {k: DEFAULT.manifest()[k] for k in ("steps", "image_size", "crops", "crop_center_std", "noise", "lr")}
DEFAULTS["crop_size"] = DEFAULT.crop_size


@dataclass
class Result:
    """What `visualize` returns.

    Attributes:
        images: (B, C, H, W) in [0, 1], on the CPU: made from the moving average of the
            parameters (`RunConfig.ema`), or the last step's where ``ema=0``.
        transparency: (B, C, H, W) accumulated |d score / d image|.
        trace: (steps, B) each image's objective (mean over crops) at every step.
        descriptions: the objective, and the target of each image.
        settings: every setting used, for manifests.
        diverged: image index -> first step its objective was NaN or infinite (only from `optimize`;
            `visualize` raises `NonFiniteError` instead).
    """

    images: torch.Tensor
    transparency: torch.Tensor
    trace: torch.Tensor
    description: str
    settings: dict[str, Any] = field(default_factory=dict)
    diverged: dict[int, int] = field(default_factory=dict)

    @property
    def final_scores(self) -> list[float]:
        """Each image's objective at the last step."""
        return [float(v) for v in self.trace[-1]]

    def alpha(self, percentile: float = 99.0) -> torch.Tensor:
        """Transparency as an alpha mask in [0, 1], shape (B, 1, H, W); see `io.transparency_alpha`."""
        return transparency_alpha(self.transparency, percentile)

    def save(self, out_dir: str | Path, names: Sequence[str] | None = None) -> list[str]:
        """Write each image as NAME.png and NAME_rgba.png, plus grid.png; returns the paths."""
        return save_result(self, out_dir, names)

    def grid(self, transparency: bool = True) -> torch.Tensor:
        """The images in one row, with a second row of each image over white through its alpha.

        Shape:
            - output: (C, H', W') in [0, 1]
        """
        images = self.images
        if transparency:
            alpha = self.alpha()
            images = torch.cat([images, images * alpha + (1 - alpha)])
        return make_grid(images, ncol=len(self.images))

    def _repr_png_(self) -> bytes:
        """Notebooks show a `Result` as its image grid (images, then images through their alpha)."""
        buf = io.BytesIO()
        Image.fromarray(to_uint8(self.grid())).save(buf, format="PNG")
        return buf.getvalue()


class StepCallback(Protocol):
    def __call__(self, step: int, scores: torch.Tensor) -> None: ...


def visualize(
    model: nn.Module,
    objective: Objective | Targets,
    config: RunConfig | None = None,
    *,
    seed: int | Sequence[int] = 0,
    batch: int | None = None,
    progress: bool = False,
    callback: StepCallback | Callable[[int, torch.Tensor], None] | None = None,
    **overrides: Any,
) -> Result:
    """Optimize B images so that `model` maximizes `objective`.

    Args:
        model: any classifier; an `ImageModel` carries its preprocessing, other
            modules are wrapped by `as_image_model` (timm configs are read).
        objective: an `Objective`, or class indices (one image per index).
        config: the settings (`RunConfig`; default: the MACO paper's).
        seed: one seed for all images, or one per image. Equal seeds give equal
            random draws, so an image does not depend on its batch-mates.
        batch: number of images; defaults to the objective's number of targets,
            or ``len(seed)`` when a seed list is given.
        progress: show a progress bar. callback: called as ``callback(step, scores)``
            with the (B,) scores of that step, on the model's device (``.cpu()`` waits for the GPU).
        **overrides: any `RunConfig` field (``method``, ``steps``, ``image_size``,
            ``crops``, ``crop_size``, ``crop_center_std``, ``noise``, ``lr``,
            ``optimizer``, ``ema``, ``spectrum``, ``fourier_decay``, ``amp``, ``channels_last``),
            replacing the value in `config`.

    Returns:
        A `Result`. Shape: images and transparency (B, C, H, W); trace (steps, B).

    Raises:
        PhaseLensError: bad settings, or a run that cannot fit in the device's free memory
            (`phaselens.memory.check_run`; the message gives the estimate and what to lower).
        NonFiniteError: the objective became NaN or infinite (naming the image and the step).

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        >>> r = visualize(net, [1, 2], steps=2, image_size=64, crops=2)
        >>> r.images.shape, r.trace.shape
        (torch.Size([2, 3, 64, 64]), torch.Size([2, 2]))
    """
    return optimize(
        model, objective, config, seed=seed, batch=batch, progress=progress, callback=callback, strict=True, **overrides
    )


def optimize(
    model: nn.Module,
    objective: Objective | Targets,
    config: RunConfig | None = None,
    *,
    seed: int | Sequence[int] = 0,
    batch: int | None = None,
    progress: bool = False,
    callback: StepCallback | Callable[[int, torch.Tensor], None] | None = None,
    strict: bool = False,
    **overrides: Any,
) -> Result:
    """`visualize`, which by default does not raise when images diverge: ``Result.diverged``
    maps each image whose objective became NaN or infinite to the first such step, and
    the other images are made as usual (Lens marks the diverged targets failed).

    Non-finite scores are looked for every `CHECK_EVERY` steps (one host sync each); the
    run stops once every image has diverged, or at the first one when `strict`, raising
    `NonFiniteError`.
    """
    cfg = (config or DEFAULT).replace(**overrides) if overrides else (config or DEFAULT)
    obj = as_objective(objective)
    im: ImageModel = as_image_model(model)
    seeds = [check_seed(s) for s in (seed if isinstance(seed, Sequence) else [seed])]
    b = batch or max(obj.batch, len(seeds))
    if len(seeds) == 1:
        seeds = seeds * b
    if obj.batch not in (1, b) or len(seeds) != b:
        raise PhaseLensError(
            f"batch of {b} images, but the objective has {obj.batch} targets and {len(seeds)} seeds were given"
        )
    check_run(im, cfg, b, () if obj.needs_logits else obj.layers)
    size = cfg.image_shape(im.input_size)
    crops = cfg.crop_config()
    device, dtype = model_device_dtype(im)
    rng = SeedGroups(seeds, device)
    param = make_param(cfg.method, rng, size, im.channels, cfg.spectrum, cfg.fourier_decay)
    optimizer = OPTIMIZERS[cfg.optimizer](param.parameters(), lr=cfg.lr)  # type: ignore[call-arg]
    average = ParamAverage(param, cfg.ema) if cfg.ema > 0 else None
    reader = LayerReader(im, obj.layers, need_logits=obj.needs_logits)
    transparency = torch.zeros(b, im.channels, *size, device=device)
    trace = torch.zeros(cfg.steps, b, device=device)  # on the device: no host sync per step
    use_amp = cfg.amp and device.type == "cuda"
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    diverged: dict[int, int] = {}

    def accumulate(grad: torch.Tensor) -> None:
        transparency.add_(grad.detach().abs())

    bar = tqdm(total=cfg.steps, desc=obj.description[:40], unit="step", leave=False, disable=not progress)
    checked = 0
    with frozen(im), bar:  # the bar closes even when a step raises, so it never writes into later output
        for step in range(cfg.steps):
            optimizer.zero_grad(set_to_none=True)
            images = param()
            images.register_hook(accumulate)
            x = augment(images, rng, crops, im.input_size).to(dtype=dtype, memory_format=fmt)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
                reader(x)
                scores = obj(reader.context(b, crops.crops)).float().view(b, crops.crops).mean(dim=1)
            (-scores.sum()).backward()
            optimizer.step()
            if average is not None:
                average.update(step)
            trace[step] = scores.detach()
            if callback is not None:
                callback(step, trace[step])
            bar.update(1)
            if (step + 1) % CHECK_EVERY == 0 or step + 1 == cfg.steps:
                _find_diverged(trace, checked, step + 1, diverged)
                checked = step + 1
                if len(diverged) == b or (strict and diverged):
                    break
        with torch.no_grad():
            if average is not None:
                average.copy_to_params()
            final = param().float().cpu()
    for i in torch.nonzero(~torch.isfinite(final.flatten(1)).all(dim=1)).flatten().tolist():
        diverged.setdefault(i, checked - 1)
    if strict and diverged:
        first = min(diverged, key=lambda i: diverged[i])
        raise NonFiniteError(
            f"the objective became NaN or infinite at step {diverged[first]} for image {first} "
            f"({len(diverged)} of {b} diverged) of {obj.description}: check that the model gives finite "
            "outputs on [0, 1] images, or lower lr",
            sorted(diverged),
            diverged[first],
        )
    settings = dict(
        cfg.manifest(im.input_size),
        seeds=seeds,
        model=im.name,
        input_size=list(im.input_size),
        mean=list(im.preprocess.mean),
        std=list(im.preprocess.std),
        objective=obj.description,
        amp=use_amp,
    )
    return Result(final, transparency.cpu(), trace.cpu(), obj.description, settings, dict(sorted(diverged.items())))


def _find_diverged(trace: torch.Tensor, start: int, stop: int, diverged: dict[int, int]) -> None:
    """Record in `diverged` the first non-finite step of each image in ``trace[start:stop]``."""
    bad = ~torch.isfinite(trace[start:stop])
    if bool(bad.any()):
        for step, image in torch.nonzero(bad).tolist():
            diverged.setdefault(image, start + step)


def evaluate(
    model: nn.Module,
    objective: Objective | Targets,
    images: torch.Tensor,
    crops: int = 0,
    seed: int = 0,
    crop_size: tuple[float, float] = DEFAULT.crop_size,
    crop_center_std: float = DEFAULT.crop_center_std,
) -> torch.Tensor:
    """Score images under the objective, without optimizing.

    With ``crops=0`` each whole image is resized to the model input; otherwise the
    score is the mean over `crops` seeded random crops (no noise), the same crops
    for every call with the same seed, so before/after comparisons are paired.
    Layers are read exactly as during `visualize` (same layouts, same prefix tokens).

    Shape:
        - images: (B, C, H, W) in [0, 1]
        - output: (B,)
    """
    obj = as_objective(objective)
    im = as_image_model(model)
    device, dtype = model_device_dtype(im)
    images = images.to(device=device, dtype=torch.float32)
    b = images.shape[0]
    if crops:
        cfg = CropConfig(crops, (float(crop_size[0]), float(crop_size[1])), crop_center_std, 0.0)
        x = augment(images, SeedGroups([seed] * b, device), cfg, im.input_size)
    else:
        cfg = CropConfig(1, (1.0, 1.0), 0.0, 0.0)
        x = torch.nn.functional.interpolate(images, size=im.input_size, mode="bilinear", antialias=True)
    reader = LayerReader(im, obj.layers, need_logits=obj.needs_logits)
    with frozen(im), torch.no_grad():
        reader(x.to(dtype))
        return obj(reader.context(b, cfg.crops)).float().view(b, cfg.crops).mean(dim=1).cpu()
