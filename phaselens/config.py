"""One run configuration: every setting that decides what an optimization makes.

`RunConfig` is the single home of the optimization defaults. `visualize` takes one
(plus keyword overrides), Lens and the benchmark build theirs from it and record
its `manifest`, and every CLI default is read from it, so a default is changed in
one place only.
"""

from __future__ import annotations

import dataclasses
import math
import operator
from dataclasses import dataclass
from typing import Any

import torch

from .errors import PhaseLensError
from .param import METHODS
from .spectrum import Spectrum
from .transforms import CropConfig

OPTIMIZERS: dict[str, type[torch.optim.Optimizer]] = {"NAdam": torch.optim.NAdam, "Adam": torch.optim.Adam}

# The settings that change the images (a Lens folder refuses to mix them; the benchmark keys its cache on them).
MAX_LR = 1e6  # no optimization here uses more than a few; larger values only diverge or overflow

IMAGE_FIELDS = (
    "method",
    "steps",
    "image_size",
    "crops",
    "crop_size",
    "crop_center_std",
    "noise",
    "lr",
    "ema",
    "spectrum",
    "fourier_decay",
)


def default_image_size(input_size: tuple[int, int]) -> tuple[int, int]:
    """The image size matching an input size, as 512 matches 224 (rounded to even)."""
    h, w = input_size
    return 2 * round(h * 512 / 224 / 2), 2 * round(w * 512 / 224 / 2)


def spectrum_name(spectrum: Spectrum | str | None) -> str:
    """How a spectrum is recorded in manifests: ``default``, the file path, or the class name."""
    if spectrum is None:
        return "default"
    return str(spectrum) if isinstance(spectrum, str) else type(spectrum).__name__


MIN_IMAGE_SIDE = 8


def _check_size(size: Any) -> int | tuple[int, int] | None:
    """None, a side, or (H, W), each an integer >= `MIN_IMAGE_SIDE`."""
    if size is None:
        return None
    raw = list(size) if isinstance(size, (tuple, list)) else [size]
    try:
        if len(raw) not in (1, 2) or any(isinstance(v, bool) for v in raw):
            raise TypeError
        sides = [operator.index(v) for v in raw]
    except TypeError:
        raise PhaseLensError(f"image_size must be None, a side or (H, W) in whole pixels, got {size!r}") from None
    if min(sides) < MIN_IMAGE_SIDE:
        raise PhaseLensError(f"image_size must be at least {MIN_IMAGE_SIDE} pixels on each side, got {size!r}")
    return (sides[0], sides[1]) if isinstance(size, (tuple, list)) and len(sides) == 2 else sides[0]


@dataclass(frozen=True)
class RunConfig:
    """The settings of one optimization. The defaults are those of the MACO paper for
    ImageNet-scale models (input 224): NAdam, lr 1.0, 256 steps, a 512 px image, 6 crops of
    0.2-0.3 of its side per step, noise 0.05; the final image is made from a moving average of
    the parameters (decay 0.95).

    Attributes:
        method: ``"maco"`` (phase only, fixed natural magnitude), ``"fourier"`` (Olah et al.
            1/f), or ``"pixel"``.
        steps: optimization steps.
        image_size: side or (H, W) of the optimized image; None: the model's input size
            x 512/224 (512 for ImageNet models), so that the default crops are about the input.
        crops, crop_size, crop_center_std, noise: see `phaselens.transforms.CropConfig`.
        lr, optimizer: learning rate and optimizer (``"NAdam"`` or ``"Adam"``).
        ema: decay of the exponential moving average of the parameters that the final image
            is made from (`phaselens.average`); 0: the last step's parameters.
        spectrum: MACO magnitude (`Spectrum`, file path, or None for the shipped default).
        fourier_decay: power of the 1/f scaling of the Fourier baseline.
        amp: bfloat16 autocast on CUDA (ignored on CPU). channels_last: memory format for CNNs on GPU.

    Example:
        >>> cfg = RunConfig(steps=64).replace(crop_size=(0.5, 0.9))
        >>> cfg.steps, cfg.crop_size, cfg.image_shape((64, 64))
        (64, (0.5, 0.9), (146, 146))
    """

    method: str = "maco"
    steps: int = 256
    image_size: int | tuple[int, int] | None = None
    crops: int = 6
    crop_size: tuple[float, float] = (0.20, 0.30)
    crop_center_std: float = 0.15
    noise: float = 0.05
    lr: float = 1.0
    optimizer: str = "NAdam"
    ema: float = 0.95
    spectrum: Spectrum | str | None = None
    fourier_decay: float = 1.0
    amp: bool = False
    channels_last: bool = False

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise PhaseLensError(f"unknown method {self.method!r}; valid: {', '.join(METHODS)}")
        if isinstance(self.steps, bool) or not isinstance(self.steps, int) or self.steps < 1:
            raise PhaseLensError(f"steps must be an integer >= 1, got {self.steps!r}")
        if self.optimizer not in OPTIMIZERS:
            raise PhaseLensError(f"unknown optimizer {self.optimizer!r}; valid: {', '.join(OPTIMIZERS)}")
        # Above MAX_LR the optimizer's float32 arithmetic overflows inside torch, with no useful message.
        if not (isinstance(self.lr, (int, float)) and math.isfinite(self.lr) and 0 < self.lr <= MAX_LR):
            raise PhaseLensError(f"lr must be a number > 0 and at most {MAX_LR:g}, got {self.lr!r}")
        if isinstance(self.ema, bool) or not (isinstance(self.ema, (int, float)) and 0 <= self.ema < 1):
            raise PhaseLensError(f"ema must be a number in [0, 1) (0: no averaging), got {self.ema!r}")
        if not (isinstance(self.fourier_decay, (int, float)) and math.isfinite(self.fourier_decay)):
            raise PhaseLensError(f"fourier_decay must be a finite number, got {self.fourier_decay!r}")
        object.__setattr__(self, "crop_size", tuple(float(v) for v in self.crop_size))
        object.__setattr__(self, "image_size", _check_size(self.image_size))
        self.crop_config()  # checks crops, crop size, centre std and noise

    def replace(self, **overrides: Any) -> RunConfig:
        """A copy with some settings changed; unknown names are an error listing the valid ones."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(overrides) - names)
        if unknown:
            raise PhaseLensError(f"unknown setting {unknown[0]!r}; valid: {', '.join(sorted(names))}")
        return dataclasses.replace(self, **overrides)

    def crop_config(self) -> CropConfig:
        """How crops are drawn each step."""
        lo, hi = self.crop_size
        return CropConfig(self.crops, (lo, hi), self.crop_center_std, self.noise)

    def image_shape(self, input_size: tuple[int, int]) -> tuple[int, int]:
        """The (H, W) of the optimized image for a model of `input_size`."""
        if self.image_size is None:
            return default_image_size(input_size)
        if isinstance(self.image_size, int):
            return self.image_size, self.image_size
        h, w = self.image_size
        return int(h), int(w)

    def manifest(self, input_size: tuple[int, int] | None = None) -> dict[str, Any]:
        """Every setting as JSON values, as outputs record them.

        With the model's `input_size`, ``image_size`` is the resolved (H, W); the
        spectrum is named only for MACO and the decay only for Fourier.
        """
        size = self.image_shape(input_size) if input_size is not None else self.image_size
        return dict(
            method=self.method,
            steps=self.steps,
            image_size=list(size) if isinstance(size, tuple) else size,
            crops=self.crops,
            crop_size=list(self.crop_size),
            crop_center_std=self.crop_center_std,
            noise=self.noise,
            lr=self.lr,
            optimizer=self.optimizer,
            ema=self.ema,
            spectrum=spectrum_name(self.spectrum) if self.method == "maco" else None,
            fourier_decay=self.fourier_decay if self.method == "fourier" else None,
            amp=self.amp,
            channels_last=self.channels_last,
        )


DEFAULT = RunConfig()
