"""Refusing runs that cannot fit: estimate the memory of a run before allocating it.

A request such as ``--size 100000`` or ``--crops 100000`` would otherwise allocate
until the machine kills the process (on a CPU, the kernel's OOM killer gives no
message at all). `check_run` estimates what `visualize` will hold at its peak,
from the image, the crops and the activations of one image measured by a dry run,
and raises a `PhaseLensError` with the estimate and what to lower when it exceeds
what the device has free. The estimate errs high (about 1.5-3x the measured peak on
the zoo and on timm models), so a run it lets through fits; the point is to stop the
absurd ones at once, not to pack memory tightly (Lens measures on CUDA for that).
"""

from __future__ import annotations

import os
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .config import RunConfig
from .errors import PhaseLensError
from .features.capture import StopForward
from .features.probe import Hook, dry_run
from .model import ImageModel, model_device_dtype

# Per image pixel and channel, in float32 values: parameters, their gradient and two optimizer
# moments, the spectrum, the rendered image and its gradient, the transparency, FFT buffers;
# one more for the parameters' moving average (`RunConfig.ema`).
IMAGE_VALUES = 12
# Per crop pixel: the supersampled crop, the resized crop, the noise, the normalized input, gradients.
CROP_VALUES = 8
# Module outputs are kept for the backward pass and meet their gradients at the peak.
ACTIVATION_FACTOR = 2.0
# Activations per input byte assumed where modules cannot be hooked (TorchScript); ResNet-50 has ~60.
UNHOOKABLE_FACTOR = 64
USABLE = 0.85  # of the free memory: leave room for the allocator and the rest of the process
GIB = 1024**3

_measured: weakref.WeakKeyDictionary[nn.Module, dict[tuple, int]] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Estimate:
    """The peak bytes of a run, by part."""

    images: int
    crops: int
    activations: int

    @property
    def total(self) -> int:
        return self.images + self.crops + self.activations


def gib(n: float) -> str:
    return f"{n / GIB:.1f} GiB" if n >= GIB / 10 else f"{n / 1024**2:.0f} MiB"


def _cgroup_free() -> int | None:
    root = Path("/sys/fs/cgroup")
    try:
        limit = (root / "memory.max").read_text().strip()
        if limit == "max":
            return None
        return int(limit) - int((root / "memory.current").read_text())
    except (OSError, ValueError):
        return None


def _meminfo_available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def available_bytes(device: torch.device) -> int | None:
    """Memory a run on `device` may still take: free GPU memory (plus torch's cache), or the
    host's available memory within its cgroup limit; None where it cannot be known."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    if device.type == "cpu":
        values = [v for v in (_meminfo_available(), _cgroup_free()) if v is not None]
        return min(values) if values else None
    return None


def activation_bytes(model: ImageModel, stop_at: Sequence[str] = ()) -> int:
    """Bytes that the leaf modules of `model.net` output for one image at its input size (one dry run).

    With `stop_at` (layer names), the pass ends once they have all run, as an
    optimization of those layers' objectives does. Measured once per model, layers,
    input size and dtype.
    """
    device, dtype = model_device_dtype(model)
    key = (tuple(model.input_size), str(device), str(dtype), tuple(stop_at))
    cache = _measured.setdefault(model, {})
    if key not in cache:
        total = [0]
        waiting = set(stop_at)

        def count(_module: nn.Module, _inputs: object, out: object) -> None:
            for t in out if isinstance(out, (tuple, list)) else [out]:
                if isinstance(t, torch.Tensor):
                    total[0] += t.numel() * t.element_size()

        def stop(name: str) -> Callable[..., None]:
            def hook(*_args: object) -> None:
                waiting.discard(name)
                if not waiting:
                    raise StopForward

            return hook

        modules = dict(model.net.named_modules())
        hooks: list[Hook] = [(m, "post", count) for m in model.net.modules() if not list(m.children())]
        hooks += [(modules[n], "post", stop(n)) for n in stop_at if n in modules]
        one_input = model.channels * model.input_size[0] * model.input_size[1] * 4
        try:
            dry_run(model, hooks)
        except PhaseLensError:  # no hooks possible (TorchScript): a guess for a mid-sized network
            total[0] = one_input * UNHOOKABLE_FACTOR
        cache[key] = max(total[0], one_input)
    return cache[key]


def estimate(model: ImageModel, config: RunConfig, batch: int, stop_at: Sequence[str] = ()) -> Estimate:
    """The peak bytes `visualize` needs for `batch` images of `config` on `model`.

    `stop_at`: the layers the objective reads when it needs no logits (see `activation_bytes`).
    """
    h, w = config.image_shape(model.input_size)
    ih, iw = model.input_size
    c = model.channels
    crops = batch * config.crops
    supersample = max(1.0, config.crop_size[1] * min(h, w) / min(ih, iw))
    per = activation_bytes(model, stop_at)
    return Estimate(
        images=batch * c * h * w * 4 * (IMAGE_VALUES + (config.ema > 0)) + config.steps * batch * 4,  # and the trace
        crops=int(crops * c * ih * iw * 4 * CROP_VALUES * max(1.0, supersample**2 / 4)),
        activations=int(crops * per * ACTIVATION_FACTOR),
    )


def _advice(config: RunConfig, model: ImageModel, batch: int, est: Estimate) -> str:
    """What to lower, the biggest part first."""
    h, w = config.image_shape(model.input_size)
    parts = [(est.images, f"--size (now {h}x{w})"), (est.crops + est.activations, f"--crops (now {config.crops})")]
    advice = [text for _, text in sorted(parts, key=lambda p: -p[0])]
    if batch > 1:
        advice.append(f"the number of images at once (now {batch}; --batch in lens)")
    if max(model.input_size) > 1024:
        advice.append(f"--input-size (now {model.input_size[0]}x{model.input_size[1]})")
    return "lower " + ", or ".join(advice)


def check_run(model: ImageModel, config: RunConfig, batch: int, stop_at: Sequence[str] = ()) -> Estimate | None:
    """Refuse a run of `batch` images that cannot fit in the free memory of the model's device.

    Returns the estimate (None where free memory cannot be known).

    Raises:
        PhaseLensError: with the estimate, the free memory and what to lower.
    """
    device, _ = model_device_dtype(model)
    free = available_bytes(device)
    if free is None:
        return None
    usable = int(free * USABLE)
    ih, iw = model.input_size
    # Refuse an absurd input size before the dry run itself allocates it.
    one_input = model.channels * ih * iw * 4
    if one_input * 4 > usable:
        raise PhaseLensError(
            f"an input of {ih}x{iw} px needs {gib(one_input)} per image before any layer runs, "
            f"but {device} has {gib(free)} free; give the model's own --input-size"
        )
    est = estimate(model, config, batch, stop_at)
    if est.total > usable:
        raise PhaseLensError(
            f"this run needs about {gib(est.total)} (images {gib(est.images)}, crops {gib(est.crops)}, "
            f"activations {gib(est.activations)}) but {device} has {gib(free)} free; "
            f"{_advice(config, model, batch, est)}"
        )
    return est


def max_batch(model: ImageModel, config: RunConfig, limit: int, stop_at: Sequence[str] = ()) -> int:
    """The most images (at most `limit`) whose run fits the free memory; 0 when not even one does."""
    device, _ = model_device_dtype(model)
    free = available_bytes(device)
    if free is None:
        return limit
    one = estimate(model, config, 1, stop_at)
    return int(min(limit, (free * USABLE) // max(one.total, 1)))
