"""The optimization loop: (model, objective) -> images, transparency, trace.

Each step renders the B images, cuts K crops of each, runs the B x K crops
through the model in one forward pass, and ascends the objective averaged over
each image's crops. The model is frozen (eval mode, no weight gradients) during
the run and restored after. Transparency accumulates |d score / d image| at full
resolution, the attribution map of the MACO paper.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
from torch import nn

from .errors import PhaseLensError
from .layers import Capture
from .model import ImageModel, as_image_model, model_device_dtype
from .objectives import Context, Objective, Targets, as_objective
from .param import METHODS, make_param
from .rng import SeedGroups
from .spectrum import Spectrum
from .transforms import CropConfig, augment

# Defaults for ImageNet-scale models (input 224): the MACO paper's settings
# (NAdam, lr 1.0, 256 steps, 512 px image, crops of ~a quarter of the side).
DEFAULTS = dict(steps=256, image_size=None, crops=6, crop_size=(0.20, 0.30), crop_center_std=0.15, noise=0.05, lr=1.0)


@dataclass
class Result:
    """What `visualize` returns.

    Attributes:
        images: (B, C, H, W) in [0, 1], on the CPU.
        transparency: (B, C, H, W) accumulated |d score / d image|.
        trace: (steps, B) each image's objective (mean over crops) at every step.
        descriptions: the objective, and the target of each image.
        settings: every setting used, for manifests.
    """

    images: torch.Tensor
    transparency: torch.Tensor
    trace: torch.Tensor
    description: str
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def final_scores(self) -> list[float]:
        """Each image's objective at the last step."""
        return [float(v) for v in self.trace[-1]]

    def alpha(self, percentile: float = 99.0) -> torch.Tensor:
        """Transparency as an alpha mask in [0, 1], shape (B, 1, H, W); see `io.transparency_alpha`."""
        from .io import transparency_alpha

        return transparency_alpha(self.transparency, percentile)

    def save(self, out_dir: str, names: Sequence[str] | None = None) -> list[str]:
        """Write each image as NAME.png and NAME_rgba.png, plus grid.png; returns the paths."""
        from .io import save_result

        return save_result(self, out_dir, names)


def default_image_size(input_size: tuple[int, int]) -> tuple[int, int]:
    """The image size matching an input size, as 512 matches 224 (rounded to even)."""
    return tuple(2 * round(s * 512 / 224 / 2) for s in input_size)


def _size(image_size, input_size: tuple[int, int]) -> tuple[int, int]:
    if image_size is None:
        return default_image_size(input_size)
    if isinstance(image_size, int):
        return image_size, image_size
    h, w = image_size
    return int(h), int(w)


@contextlib.contextmanager
def frozen(model: nn.Module):
    """Eval mode and no weight gradients inside; the model's own flags restored after."""
    was_training = model.training
    flags = [(p, p.requires_grad) for p in model.parameters()]
    model.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield model
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)
        model.train(was_training)


def _prefix_tokens(net: nn.Module) -> int | None:
    value = getattr(net, "num_prefix_tokens", None)
    return int(value) if isinstance(value, int) else None


def _layouts(model: ImageModel, layers: Sequence[str]) -> dict:
    """Layout hints for the objective's layers (NHWC stages, token prefix and grid), from one dry run."""
    if not layers:
        return {}
    from .models.layout import cached_layouts

    return cached_layouts(model, layers)


def visualize(
    model: nn.Module,
    objective: Objective | Targets,
    method: str = "maco",
    steps: int = DEFAULTS["steps"],
    image_size: int | tuple[int, int] | None = DEFAULTS["image_size"],
    crops: int = DEFAULTS["crops"],
    crop_size: tuple[float, float] = DEFAULTS["crop_size"],
    crop_center_std: float = DEFAULTS["crop_center_std"],
    noise: float = DEFAULTS["noise"],
    lr: float = DEFAULTS["lr"],
    seed: int | Sequence[int] = 0,
    batch: int | None = None,
    spectrum: Spectrum | str | None = None,
    fourier_decay: float = 1.0,
    amp: bool = False,
    channels_last: bool = False,
    progress: bool = False,
    callback: Callable[[int, torch.Tensor], None] | None = None,
) -> Result:
    """Optimize B images so that `model` maximizes `objective`.

    Args:
        model: any classifier; an `ImageModel` carries its preprocessing, other
            modules are wrapped by `as_image_model` (timm configs are read).
        objective: an `Objective`, or class indices (one image per index).
        method: ``"maco"`` (phase only, fixed natural magnitude), ``"fourier"``
            (Olah et al. 1/f), or ``"pixel"``.
        steps, lr: NAdam steps and learning rate.
        image_size: side or (H, W) of the optimized image, any size. None: the
            model's input size x 512/224 (512 for ImageNet models), so that the
            default crops (a quarter of the side) are about the input size.
        crops, crop_size, crop_center_std, noise: see `CropConfig`.
        seed: one seed for all images, or one per image. Equal seeds give equal
            random draws, so an image does not depend on its batch-mates.
        batch: number of images; defaults to the objective's number of targets,
            or ``len(seed)`` when a seed list is given.
        spectrum: MACO magnitude (`Spectrum`, file path, or None for the default).
        amp: bfloat16 autocast on CUDA. channels_last: memory format for CNNs on GPU.
        progress: show a progress bar. callback: called as ``callback(step, scores)``
            with the (B,) scores of that step, on the model's device (``.cpu()`` waits for the GPU).

    Returns:
        A `Result`. Shape: images and transparency (B, C, H, W); trace (steps, B).

    Example:
        >>> net = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten())
        >>> r = visualize(net, [1, 2], steps=2, image_size=64, crops=2)
        >>> r.images.shape, r.trace.shape
        (torch.Size([2, 3, 64, 64]), torch.Size([2, 2]))
    """
    if method not in METHODS:
        raise PhaseLensError(f"unknown method {method!r}; valid: {', '.join(METHODS)}")
    if steps < 1:
        raise PhaseLensError(f"steps must be >= 1, got {steps}")
    obj = as_objective(objective)
    im: ImageModel = as_image_model(model)
    seeds = [seed] if isinstance(seed, int) else [int(s) for s in seed]
    b = batch or max(obj.batch, len(seeds))
    if len(seeds) == 1:
        seeds = seeds * b
    if obj.batch not in (1, b) or len(seeds) != b:
        raise PhaseLensError(
            f"batch of {b} images, but the objective has {obj.batch} targets and {len(seeds)} seeds were given"
        )
    size = _size(image_size, im.input_size)
    cfg = CropConfig(crops, tuple(crop_size), crop_center_std, noise)
    device, dtype = model_device_dtype(im)
    rng = SeedGroups(seeds, device)
    param = make_param(method, rng, size, im.channels, spectrum, fourier_decay)
    optimizer = torch.optim.NAdam(param.parameters(), lr=lr)
    capture = Capture(im.net, obj.layers, need_output=obj.needs_logits)
    prefix = _prefix_tokens(im.net)
    layouts = _layouts(im, obj.layers)
    transparency = torch.zeros(b, im.channels, *size, device=device)
    trace = torch.zeros(steps, b, device=device)  # on the device: no host sync per step
    use_amp = amp and device.type == "cuda"
    fmt = torch.channels_last if channels_last else torch.contiguous_format

    def accumulate(grad: torch.Tensor) -> None:
        transparency.add_(grad.detach().abs())

    bar = _progress(steps, progress, obj.description)
    with frozen(im):
        for step in range(steps):
            optimizer.zero_grad(set_to_none=True)
            images = param()
            images.register_hook(accumulate)
            x = augment(images, rng, cfg, im.input_size).to(dtype=dtype, memory_format=fmt)
            with torch.autocast("cuda", dtype=torch.bfloat16, enabled=use_amp):
                logits = capture(im, x)
                ctx = Context(capture.outputs, logits, b, cfg.crops, prefix, layouts)
                scores = obj(ctx).float().view(b, cfg.crops).mean(dim=1)
            (-scores.sum()).backward()
            optimizer.step()
            trace[step] = scores.detach()
            if callback is not None:
                callback(step, trace[step])
            bar.update(1)
        bar.close()
        with torch.no_grad():
            final = param().float().cpu()
    settings = dict(
        method=method, steps=steps, image_size=list(size), crops=crops, crop_size=list(crop_size),
        crop_center_std=crop_center_std, noise=noise, lr=lr, seeds=seeds, optimizer="NAdam",
        model=im.name, input_size=list(im.input_size), mean=list(im.preprocess.mean),
        std=list(im.preprocess.std), objective=obj.description, amp=use_amp,
        spectrum=_spectrum_name(spectrum) if method == "maco" else None,
        fourier_decay=fourier_decay if method == "fourier" else None,
    )
    return Result(final, transparency.cpu(), trace.cpu(), obj.description, settings)


def evaluate(
    model: nn.Module,
    objective: Objective | Targets,
    images: torch.Tensor,
    crops: int = 0,
    seed: int = 0,
    crop_size: tuple[float, float] = DEFAULTS["crop_size"],
    crop_center_std: float = DEFAULTS["crop_center_std"],
) -> torch.Tensor:
    """Score images under the objective, without optimizing.

    With ``crops=0`` each whole image is resized to the model input; otherwise the
    score is the mean over `crops` seeded random crops (no noise), the same crops
    for every call with the same seed, so before/after comparisons are paired.

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
        cfg = CropConfig(crops, tuple(crop_size), crop_center_std, 0.0)
        x = augment(images, SeedGroups([seed] * b, device), cfg, im.input_size)
    else:
        cfg = CropConfig(1, (1.0, 1.0), 0.0, 0.0)
        x = torch.nn.functional.interpolate(images, size=im.input_size, mode="bilinear", antialias=True)
    capture = Capture(im.net, obj.layers, need_output=obj.needs_logits)
    with frozen(im), torch.no_grad():
        out = capture(im, x.to(dtype))
        ctx = Context(capture.outputs, out, b, cfg.crops, _prefix_tokens(im.net))
        return obj(ctx).float().view(b, cfg.crops).mean(dim=1).cpu()


def _spectrum_name(spectrum) -> str:
    if spectrum is None:
        return "default"
    return str(spectrum) if isinstance(spectrum, str) else type(spectrum).__name__


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool, desc: str):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc[:40], unit="step", leave=False)
