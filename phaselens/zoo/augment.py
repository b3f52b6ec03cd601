"""Training augmentations of the zoo, each drawing its randomness from an explicit generator.

Why these: models trained on clean, one-scale procedural images learn brittle
cues (exact contrast, exact size, the magnitude spectrum of a grating) that
differ from model to model, so a feature visualization of one model means
little to another. Flips, contrast, blur and noise are the usual photometric
nuisances; amplitude-phase recombination (Chen et al., ICCV 2021, "APR-P")
keeps an image's Fourier phase and label but takes the Fourier magnitude of
another image of the batch, so the evidence a model learns sits in the phase,
which is where MACO (magnitude fixed, phase optimized) looks for it.
Object scale is widened in the data itself (`ProceduralShapes(scale=...)`).

All functions take and return (N, 3, H, W) images in [0, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def flips(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random horizontal and vertical flips (both keep every class definition; 90° turns would not)."""
    n = x.shape[0]
    hflip = torch.rand(n, generator=gen) < 0.5
    vflip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(hflip[:, None, None, None], x.flip(3), x)
    return torch.where(vflip[:, None, None, None], x.flip(2), x)


def contrast(x: torch.Tensor, gen: torch.Generator, lo: float = 0.6, hi: float = 1.4) -> torch.Tensor:
    """Scale each image's deviation from its mean by a factor drawn from [lo, hi] (hue is kept)."""
    factor = lo + (hi - lo) * torch.rand(x.shape[0], 1, 1, 1, generator=gen)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    return ((x - mean) * factor + mean).clamp(0.0, 1.0)


def blur(x: torch.Tensor, gen: torch.Generator, max_sigma: float = 1.5, radius: int = 3) -> torch.Tensor:
    """Gaussian blur with a per-image sigma drawn from [0, max_sigma] pixels (reflect padding)."""
    n, c, h, w = x.shape
    sigma = (max_sigma * torch.rand(n, generator=gen)).clamp_min(1e-3)
    taps = torch.arange(-radius, radius + 1, dtype=x.dtype)
    kernel = torch.exp(-(taps[None] ** 2) / (2 * sigma[:, None] ** 2))
    kernel = (kernel / kernel.sum(dim=1, keepdim=True)).repeat_interleave(c, dim=0)  # (n*c, taps)
    # One group per (image, channel): every image gets its own kernel in one conv call.
    y = F.pad(x, (radius,) * 4, mode="reflect").reshape(1, n * c, h + 2 * radius, w + 2 * radius)
    y = F.conv2d(y, kernel[:, None, None, :], groups=n * c)
    y = F.conv2d(y, kernel[:, None, :, None], groups=n * c)
    return y.reshape(n, c, h, w)


def noise(x: torch.Tensor, gen: torch.Generator, max_std: float = 0.03) -> torch.Tensor:
    """Add Gaussian pixel noise with a per-image std drawn from [0, max_std]."""
    std = max_std * torch.rand(x.shape[0], 1, 1, 1, generator=gen)
    return (x + std * torch.randn(x.shape, generator=gen)).clamp(0.0, 1.0)


def amplitude_swap(x: torch.Tensor, gen: torch.Generator, p: float = 0.5) -> torch.Tensor:
    """With probability ``p`` per image, replace its Fourier magnitude by another batch image's.

    The phase, and so the label, stays the image's own (APR-P of Chen et al. 2021);
    each channel is transformed separately.
    """
    spectrum = torch.fft.rfft2(x)
    donor = torch.randperm(x.shape[0], generator=gen)
    mixed = torch.fft.irfft2(spectrum[donor].abs() * torch.exp(1j * spectrum.angle()), s=x.shape[-2:])
    use = torch.rand(x.shape[0], generator=gen) < p
    return torch.where(use[:, None, None, None], mixed.clamp(0.0, 1.0), x)


def train_augment(x: torch.Tensor, gen: torch.Generator, swap_p: float = 0.5) -> torch.Tensor:
    """The zoo's training augmentation: flips, contrast, blur, noise, then amplitude swap.

    Shape:
        - x: (N, 3, H, W) in [0, 1]; output: the same shape, in [0, 1].

    Example:
        >>> x = torch.rand(4, 3, 16, 16)
        >>> train_augment(x, torch.Generator().manual_seed(0)).shape
        torch.Size([4, 3, 16, 16])
    """
    x = noise(blur(contrast(flips(x, gen), gen), gen), gen)
    return amplitude_swap(x, gen, swap_p) if swap_p > 0 else x
