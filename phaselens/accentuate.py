"""Feature accentuation (Hamblin, Fel et al. 2024): change a real image as little as needed, in a
natural-image parameterization, so that an objective grows; the change shows *what in this image*
the feature responds to.

The image is its own spectrum plus a learned change (`SeededParam`): at step 0 it is exactly the
image, and each coefficient of the change is scaled by 1/f, so updates favour the low frequencies
of natural images (the Fourier preconditioning of Lucid and MACO). A regularizer keeps the result
near the image where the model looks: the squared distance between the activations of the
accentuated and the original image at `reg_layer`, on the same random crops, relative to the
original's. Each step scores ``objective - reg_weight * distance``; B images × K crops go through
the model in one forward pass, as in `visualize`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from tqdm.auto import tqdm

from .color import decorrelate, recorrelate
from .concepts.split import split_model
from .config import RunConfig
from .errors import PhaseLensError
from .features import LayerReader
from .fourier import radial_frequency
from .memory import check_run
from .model import ImageModel, as_image_model, frozen, model_device_dtype
from .objectives import Objective, Targets, as_objective
from .param import ImageParam
from .render import Result
from .rng import SeedGroups, check_seed
from .transforms import augment

__all__ = ["ACCENTUATE", "SeededParam", "accentuate"]

# Crops of most of the image (the image is real: its scale is right), little noise, fewer steps.
# No moving average: its loop keeps the last step's change (averaging is measured for visualize only).
ACCENTUATE = RunConfig(steps=64, crops=4, crop_size=(0.7, 1.0), crop_center_std=0.1, noise=0.02, lr=0.02, ema=0.0)
EPS = 1e-3  # images are clipped to [EPS, 1 - EPS] before the inverse sigmoid


class SeededParam(ImageParam):
    """An image's own (decorrelated, pre-sigmoid) spectrum plus a learned change.

    ``decorrelated() = irfft2(rfft2(z0) + scale * delta)`` with ``z0 = decorrelate(logit(image))``, so
    the parameterization gives back the image exactly while ``delta = 0``.

    Args:
        images: (B, C, H, W) in [0, 1].
        precondition: scale the change by 1/f^decay (the Fourier preconditioning); False: the change is
            in pixels (``z0 + delta``), the baseline.
        decay: power of the 1/f scaling.
    """

    method = "seeded"

    def __init__(self, images: torch.Tensor, precondition: bool = True, decay: float = 1.0) -> None:
        b, c, h, w = images.shape
        super().__init__(b, c, h, w)
        z0 = decorrelate(torch.logit(images.float().clamp(EPS, 1 - EPS)))
        self.precondition = precondition
        self.base: torch.Tensor
        self.scale: torch.Tensor
        if precondition:
            self.register_buffer("base", torch.view_as_real(torch.fft.rfft2(z0, norm="ortho")))
            f = radial_frequency(h, w).to(images.device).clamp_min(1.0 / max(h, w))
            self.register_buffer("scale", f.pow(-decay))
            self.delta = nn.Parameter(torch.zeros_like(self.base))
        else:
            self.register_buffer("base", z0)
            self.register_buffer("scale", torch.ones((), device=images.device))
            self.delta = nn.Parameter(torch.zeros_like(z0))

    def decorrelated(self) -> torch.Tensor:
        if not self.precondition:
            return self.base + self.delta
        spec = torch.view_as_complex(self.base) + torch.view_as_complex(self.delta) * self.scale
        return torch.fft.irfft2(spec, s=(self.height, self.width), norm="ortho")

    def forward(self) -> torch.Tensor:
        return torch.sigmoid(recorrelate(self.decorrelated()))


def default_reg_layer(model: ImageModel) -> str:
    """The layer the regularizer reads by default: the last block before global pooling (the concepts'
    default split layer)."""
    return split_model(model).layer


def accentuate(
    model: nn.Module,
    images: torch.Tensor,
    objective: Objective | Targets,
    config: RunConfig | None = None,
    *,
    reg_layer: str | None = None,
    reg_weight: float = 1.0,
    precondition: bool = True,
    seed: int | Sequence[int] = 0,
    progress: bool = False,
    **overrides: Any,
) -> Result:
    """Accentuate `objective` in real `images`: the smallest change, in a natural parameterization,
    that makes the objective grow.

    Args:
        model: any classifier (an `ImageModel` carries its preprocessing).
        images: (B, C, H, W) in [0, 1], optimized at their own size (crops are resized to the input).
        objective: an `Objective` (one target per image, or one for all), or class indices.
        config: the settings (`RunConfig`; default `ACCENTUATE`: 64 steps, 4 crops of 0.7-1.0 of the
            image, noise 0.02, NAdam lr 0.02); `method` and `image_size` are not used.
        reg_layer: the layer whose activations must stay near the original's; None: the last block
            before global pooling.
        reg_weight: weight of that distance (relative: 1 is a change as large as the activations
            themselves) against the objective; 0: free ascent from the image.
        precondition: the Fourier preconditioning (False: a change in pixels, the baseline).
        seed: crop and noise draws, one seed or one per image.
        progress: a progress bar. overrides: any `RunConfig` field (``steps``, ``crops``, ``lr``, ...).

    Returns:
        A `Result`: images, transparency, trace (the objective alone, per step), and in ``settings``
        the regularizer's layer, weight and final distance per image (``reg_distance``).

    Shape:
        - images: (B, C, H, W); output images and transparency: (B, C, H, W); trace: (steps, B).

    Raises:
        PhaseLensError: images that are not (B, C, H, W) in [0, 1] with the model's channels, a layer
            that does not exist, a negative or non-finite weight, or a run that cannot fit in memory.

    Example:
        >>> import phaselens as pl
        >>> model = pl.load_model("zoo:cnn")
        >>> from phaselens.data import make_batch
        >>> images, labels = make_batch(2, 64, seed=1)
        >>> r = accentuate(model, images, pl.logit([3, 3]), steps=4)
        >>> r.images.shape, r.trace.shape
        (torch.Size([2, 3, 64, 64]), torch.Size([4, 2]))
    """
    cfg = (config or ACCENTUATE).replace(**overrides) if overrides else (config or ACCENTUATE)
    im = as_image_model(model)
    obj = as_objective(objective)
    x0 = _check_images(images, im)
    b = x0.shape[0]
    if obj.batch not in (1, b):
        raise PhaseLensError(f"{b} images but the objective has {obj.batch} targets: give one target or one per image")
    if isinstance(reg_weight, bool) or not isinstance(reg_weight, (int, float)) or not 0 <= reg_weight < float("inf"):
        raise PhaseLensError(f"reg_weight must be a finite number >= 0, got {reg_weight!r}")
    layer = reg_layer or default_reg_layer(im)
    seeds = [check_seed(s) for s in (seed if isinstance(seed, Sequence) else [seed] * b)]
    if len(seeds) != b:
        raise PhaseLensError(f"{b} images but {len(seeds)} seeds: give one seed or one per image")
    check_run(im, cfg.replace(image_size=tuple(x0.shape[-2:])), b, ())
    device, dtype = model_device_dtype(im)
    x0 = x0.to(device)
    crops = cfg.crop_config()
    param = SeededParam(x0, precondition, cfg.fourier_decay).to(device)
    optimizer = torch.optim.NAdam(param.parameters(), lr=cfg.lr)
    reader = LayerReader(im, (*obj.layers, layer), need_logits=obj.needs_logits)
    rng, rng0 = SeedGroups(seeds, device), SeedGroups(seeds, device)  # in step: the same crops of both
    transparency = torch.zeros_like(x0)
    trace = torch.zeros(cfg.steps, b, device=device)
    distance = torch.zeros(b, device=device)
    with frozen(im):
        for step in tqdm(range(cfg.steps), desc="accentuate", leave=False, disable=not progress):
            with torch.no_grad():
                reader(augment(x0, rng0, crops, im.input_size).to(dtype))
                ref = reader.context(b, crops.crops).maps(layer).float()
            optimizer.zero_grad(set_to_none=True)
            x = param()
            x.register_hook(lambda g: _accumulate(transparency, g))
            reader(augment(x, rng, crops, im.input_size).to(dtype))
            ctx = reader.context(b, crops.crops)
            scores = obj(ctx).float().view(b, crops.crops).mean(dim=1)
            acts = ctx.maps(layer).float()
            err = (acts - ref).pow(2).flatten(1).sum(1) / ref.pow(2).flatten(1).sum(1).clamp_min(1e-12)
            distance = err.view(b, crops.crops).mean(dim=1)
            (-(scores - reg_weight * distance).sum()).backward()
            optimizer.step()
            trace[step] = scores.detach()
        with torch.no_grad():
            final = param().float().cpu()
    if not torch.isfinite(trace).all() or not torch.isfinite(final).all():
        raise PhaseLensError(f"accentuation of {obj.description} diverged (NaN or infinite): lower lr")
    settings = dict(
        cfg.manifest(im.input_size),
        image_size=list(x0.shape[-2:]),
        seeds=seeds,
        model=im.name,
        objective=obj.description,
        reg_layer=layer,
        reg_weight=float(reg_weight),
        reg_distance=[round(float(d), 6) for d in distance.detach().cpu()],
        precondition=precondition,
    )
    return Result(final, transparency.cpu(), trace.cpu(), obj.description, settings)


def _accumulate(total: torch.Tensor, grad: torch.Tensor) -> None:
    total.add_(grad.detach().abs())  # returns None: the gradient itself is left as it is


def _check_images(images: torch.Tensor, model: ImageModel) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise PhaseLensError(f"images must be a (B, C, H, W) tensor in [0, 1], got {shape}")
    if images.shape[1] != model.channels:
        raise PhaseLensError(f"images have {images.shape[1]} channels but {model.name} takes {model.channels}")
    if min(images.shape[-2:]) < 8:
        raise PhaseLensError(f"images must be at least 8 x 8 pixels, got {tuple(images.shape[-2:])}")
    if not torch.isfinite(images).all() or float(images.min()) < 0 or float(images.max()) > 1:
        raise PhaseLensError("images must hold finite values in [0, 1] (as read from files, divided by 255)")
    return images.float()
