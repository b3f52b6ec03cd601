"""How many targets go into one `visualize` call: measured on CUDA, by input area on CPU."""

from __future__ import annotations

import torch

from ..config import RunConfig
from ..memory import max_batch
from ..model import ImageModel, model_device_dtype
from ..render import visualize
from .plan import Target, objective_for, objective_stop

CPU_BATCH = 16  # targets per batch on CPU for inputs up to 96 x 96, fewer for bigger inputs
MAX_BATCH = 256


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


def auto_batch(model: ImageModel, first: Target, facets: int, targets: int, config: RunConfig) -> int:
    """Targets per batch for this device: on CUDA measured with two 2-step probes, on CPU `cpu_batch`
    (fewer when the memory estimate of `phaselens.memory` says a batch would not fit)."""
    device, _ = model_device_dtype(model)
    if device.type != "cuda":
        fits = max_batch(model, config, cpu_batch(model.input_size) * facets, objective_stop(first)) // facets
        return max(1, min(cpu_batch(model.input_size), fits, targets))
    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()
    free, _total = torch.cuda.mem_get_info(device)
    peaks = []
    for images in (1, 4):
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        visualize(model, objective_for([first] * images), config.replace(steps=2), seed=0, batch=images)
        peaks.append(torch.cuda.max_memory_allocated(device) - base)
    torch.cuda.empty_cache()
    return batch_from_probe(free, peaks[0], peaks[1], facets, targets)


def is_oom(err: BaseException) -> bool:
    """Whether `err` is a device out-of-memory error (the batch is then retried in halves)."""
    return isinstance(err, torch.cuda.OutOfMemoryError) or "out of memory" in str(err).lower()
