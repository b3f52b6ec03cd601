"""Frequency grids and Hermitian symmetry helpers for the rfft2 layout.

An H x W real image has an rfft2 of shape (..., H, W // 2 + 1): rows follow
``fftfreq(H)``, columns ``rfftfreq(W)``. In the DC column, and for even W the
Nyquist column, every bin k has its partner -k in the same column, and a real
image has X[-k] = conj(X[k]) there. The spectrum package and the image
parameterizations both use these helpers.
"""

from __future__ import annotations

import torch


def radial_frequency(height: int, width: int) -> torch.Tensor:
    """|f| in cycles per pixel on the rfft2 grid. Shape: (H, W // 2 + 1)."""
    fy = torch.fft.fftfreq(height).view(-1, 1)
    fx = torch.fft.rfftfreq(width).view(1, -1)
    return torch.sqrt(fy**2 + fx**2)


def frequency_grid(height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(fy, fx) in cycles per pixel on the rfft2 grid, float64. Shape: two (H, W // 2 + 1)."""
    fy = torch.fft.fftfreq(height, dtype=torch.float64).view(-1, 1)
    fx = torch.fft.rfftfreq(width, dtype=torch.float64).view(1, -1)
    return torch.broadcast_tensors(fy, fx)


def hermitian_columns(width: int) -> list[int]:
    """rfft2 columns whose bins pair up as X[k] = conj(X[-k]): DC, and Nyquist for even W."""
    return [0, width // 2] if width % 2 == 0 else [0]


def hermitian_mask(height: int, width: int, device=None) -> torch.Tensor:
    """True in the `hermitian_columns`. Shape: (H, W // 2 + 1) bool."""
    mask = torch.zeros(height, width // 2 + 1, dtype=torch.bool, device=device)
    mask[:, hermitian_columns(width)] = True
    return mask


def negated_rows(x: torch.Tensor) -> torch.Tensor:
    """x[..., (-k) % H, :] for every row k: a flip and a roll, no index tensor (no GPU sync)."""
    return torch.roll(torch.flip(x, dims=(-2,)), shifts=1, dims=-2)


def symmetrize_magnitude(mag: torch.Tensor, width: int) -> torch.Tensor:
    """Make |X[k]| = |X[-k]| in the Hermitian columns, as a real image's spectrum has.

    Each such bin becomes (|X[k]| + |X[-k]|) / 2 in the input's dtype; every
    other bin passes through.

    Shape:
        - mag: (..., H, W // 2 + 1); output: same.
    """
    h = mag.shape[-2]
    mirrored = negated_rows(mag)
    return torch.where(hermitian_mask(h, width, mag.device), (mag + mirrored) / 2, mag)


def antisymmetrize_phase(phase: torch.Tensor, width: int) -> torch.Tensor:
    """Make phi[k] = -phi[-k] in the Hermitian columns (so irfft2 keeps every magnitude).

    Self-paired bins (row 0, and row H/2 for even H) get phase 0: a real, positive value.
    Only those one or two columns are touched; the rest passes through.
    """
    cols = hermitian_columns(width)  # [0] or [0, last]: slices, not an index list (no GPU sync)
    edge = phase[..., :1] if len(cols) == 1 else torch.cat([phase[..., :1], phase[..., -1:]], dim=-1)
    edge = (edge - negated_rows(edge)) / 2
    if len(cols) == 1:
        return torch.cat([edge, phase[..., 1:]], dim=-1)
    return torch.cat([edge[..., :1], phase[..., 1:-1], edge[..., 1:]], dim=-1)
