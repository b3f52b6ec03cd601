"""Colour decorrelation (the ImageNet colour matrix used since Lucid).

Images are optimized in a decorrelated colour space and mapped back with the
square root of the ImageNet RGB covariance, so that each optimized channel is
roughly independent and equally scaled.
"""

from __future__ import annotations

import functools

import torch

# Square root of the ImageNet colour covariance (SVD), columns normalized so the
# largest has unit norm; published with Lucid (Olah et al. 2017).
_SQRT_COVARIANCE = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], dtype=torch.float64)
COLOR_MATRIX = (_SQRT_COVARIANCE / _SQRT_COVARIANCE.norm(dim=0).max()).float()


def recorrelate(x: torch.Tensor) -> torch.Tensor:
    """Map decorrelated colours to RGB; grayscale (1 channel) passes through.

    Shape:
        - Input: (B, C, H, W), C in {1, 3}.
        - Output: same shape.
    """
    if x.shape[1] == 1:
        return x
    m = _matrix(x.device, x.dtype)
    return torch.einsum("ij,bjhw->bihw", m, x)


def decorrelate(x: torch.Tensor) -> torch.Tensor:
    """The inverse of `recorrelate`: RGB to decorrelated colours (grayscale passes through).

    Example:
        >>> x = torch.rand(1, 3, 4, 4)
        >>> bool(torch.allclose(recorrelate(decorrelate(x)), x, atol=1e-5))
        True
    """
    if x.shape[1] == 1:
        return x
    m = torch.linalg.inv(_matrix(x.device, torch.float64)).to(x.dtype)
    return torch.einsum("ij,bjhw->bihw", m, x)


@functools.cache
def _matrix(device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    # Once per device: a CPU -> GPU copy at every step would make the host wait for the GPU.
    return COLOR_MATRIX.to(device=device, dtype=dtype)
