"""Factorizations A ≈ U W of activations (crops × channels), in torch, batched over groups (classes).

- `nmf`: U, W ≥ 0 (CRAFT), by HALS from an NNDSVD start: deterministic, and a seeded random start.
- `semi_nmf`: U ≥ 0, W signed, for activations that are not non-negative (ViT tokens).
- `pca`: U, W signed, W with orthonormal rows, A ≈ U W + mean.
- `transform`: coefficients of new activations with W fixed (NNLS, or least squares for PCA).

Input A is one (N, C) matrix, a (G, N, C) batch with an optional (G, N) row mask, or a list of (N_g, C)
matrices that are padded internally. Padded rows are zero in A and U and never enter a sum, and each group
stops iterating when it has converged, so a group fitted in a batch gets what it gets alone (to rounding).

This module is longer than 300 lines on purpose: the three factorizations share the input handling (padding,
masks, checks), the starts, the stopping rule and the metrics, and these batching rules live in one file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import PhaseLensError
from .nnls import hals_sweep, nnls_batched

METHODS = ("nmf", "semi_nmf", "pca")


@dataclass
class Factorization:
    """A ≈ U W (+ mean for PCA), per group, with fit metrics.

    Unbatched input (one (N, C) matrix) gives U (N, R), W (R, C) and 0-d metrics; batched input gives
    U (G, N, R) with zero padded rows, W (G, R, C) and metrics of shape (G,).

    Attributes:
        U: coefficients of the rows of A.
        W: the atoms (concept bank), one per row. For nmf and semi_nmf each row has unit L2 norm (the
            scale is in U); for pca the rows are orthonormal.
        error: relative reconstruction error ‖A − Â‖_F / ‖A‖_F.
        sparsity: share of exact zeros in U (valid rows only).
        hoyer: Hoyer sparsity of the rows of U, averaged: 0 when all equal, 1 for one non-zero.
        n_iter: iterations run.
        converged: whether the relative error improvement fell under `tol` before `max_iter`.
        method: ``nmf``, ``semi_nmf`` or ``pca``.
        mask: (G, N) bool, True on real rows, when the input was batched; else None.
        mean: (C,) or (G, C) row mean subtracted by pca; else None.
    """

    U: torch.Tensor
    W: torch.Tensor
    error: torch.Tensor
    sparsity: torch.Tensor
    hoyer: torch.Tensor
    n_iter: torch.Tensor
    converged: torch.Tensor
    method: str
    mask: torch.Tensor | None = None
    mean: torch.Tensor | None = None

    def coefficients(self, group: int) -> torch.Tensor:
        """U of one group without its padded rows. Shape: (N_g, R)."""
        if self.U.ndim == 2:
            return self.U
        return self.U[group] if self.mask is None else self.U[group][self.mask[group]]

    def reconstruct(self) -> torch.Tensor:
        """Â = U W (+ mean). Shape: like A (padded rows included)."""
        out = self.U @ self.W
        return out if self.mean is None else out + self.mean.unsqueeze(-2)

    def transform(self, A: torch.Tensor, **kwargs) -> torch.Tensor:
        """`transform` with this W, method and mean."""
        return transform(A, self.W, method=self.method, mean=self.mean, **kwargs)


def _prepare(A, mask, rank: int, method: str) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """(G, N, C) float tensor with zero padded rows, (G, N) bool mask, and whether the input was batched."""
    if isinstance(A, (list, tuple)):
        mats = [torch.as_tensor(a) for a in A]
        if not mats or any(m.ndim != 2 for m in mats) or len({m.shape[1] for m in mats}) != 1:
            raise PhaseLensError(f"{method} needs a non-empty list of (N_g, C) matrices with one C")
        n = max(m.shape[0] for m in mats)
        device = mats[0].device
        X = torch.zeros(len(mats), n, mats[0].shape[1], dtype=torch.result_type(mats[0], 1.0), device=device)
        mask = torch.zeros(len(mats), n, dtype=torch.bool, device=device)
        for g, m in enumerate(mats):
            X[g, : len(m)] = m
            mask[g, : len(m)] = True
        batched = True
    else:
        X = torch.as_tensor(A)
        if X.ndim not in (2, 3):
            raise PhaseLensError(f"{method} needs A of shape (N, C) or (G, N, C), got {tuple(X.shape)}")
        batched = X.ndim == 3
        X = X if batched else X.unsqueeze(0)
        mask = torch.ones(X.shape[:2], dtype=torch.bool) if mask is None else torch.as_tensor(mask).to(torch.bool)
        if mask.shape != X.shape[:2]:
            raise PhaseLensError(f"mask must have shape (G, N) = {tuple(X.shape[:2])}, got {tuple(mask.shape)}")
    X = X if X.is_floating_point() else X.to(torch.float32)
    mask = mask.to(X.device)
    X = torch.where(mask.unsqueeze(-1), X, 0)
    if not bool(X.isfinite().all()):
        raise PhaseLensError(f"{method}: A holds NaN or infinite values; drop or fill them first")
    if method == "nmf" and bool((X < 0).any()):
        raise PhaseLensError("nmf needs non-negative A; use semi_nmf or pca for signed activations")
    smallest = min(int(mask.sum(1).min()), X.shape[-1])
    if not isinstance(rank, (int, np.integer)) or not 1 <= rank <= smallest:
        raise PhaseLensError(f"rank must be an integer from 1 to min(N, C) = {smallest}, got {rank!r}")
    return X, mask, batched


def _rel_error(X: torch.Tensor, U: torch.Tensor, W: torch.Tensor) -> torch.Tensor:
    """‖X − U W‖_F / ‖X‖_F per group (padded rows are zero on both sides). Shape: (G,)."""
    norm = torch.linalg.matrix_norm(X).clamp_min(torch.finfo(X.dtype).tiny)
    return torch.linalg.matrix_norm(X - U @ W) / norm


def _nndsvd(X: torch.Tensor, mask: torch.Tensor, rank: int, fill: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """NNDSVD start (Boutsidis & Gallopoulos 2008): each singular pair's dominant non-negative part.

    Sign-invariant (flipping a singular pair picks the same parts), so batching and padding don't change
    it. With `fill` ("nndsvda") zeros become the mean of A, which lets multiplicative-style updates move.
    """
    P, S, Qh = torch.linalg.svd(X, full_matrices=False)
    P, S, Qh = P[..., :rank], S[..., :rank], Qh[..., :rank, :]
    parts = []
    for x, y in ((P, Qh.transpose(-1, -2)), (-P, -Qh.transpose(-1, -2))):
        xp, yp = x.clamp_min(0), y.clamp_min(0)
        nx, ny = torch.linalg.vector_norm(xp, dim=-2), torch.linalg.vector_norm(yp, dim=-2)
        parts.append((xp, yp, nx, ny))
    (xp, yp, nxp, nyp), (xn, yn, nxn, nyn) = parts
    pos = nxp * nyp >= nxn * nyn  # (G, R)
    tiny = torch.finfo(X.dtype).tiny
    x = torch.where(pos.unsqueeze(-2), xp / nxp.clamp_min(tiny).unsqueeze(-2), xn / nxn.clamp_min(tiny).unsqueeze(-2))
    y = torch.where(pos.unsqueeze(-2), yp / nyp.clamp_min(tiny).unsqueeze(-2), yn / nyn.clamp_min(tiny).unsqueeze(-2))
    scale = torch.sqrt(S * torch.where(pos, nxp * nyp, nxn * nyn))
    U, W = x * scale.unsqueeze(-2), (y * scale.unsqueeze(-2)).transpose(-1, -2)
    if fill:
        mean = (X.sum((-2, -1)) / (mask.sum(-1) * X.shape[-1])).view(-1, 1, 1)
        U, W = torch.where(U == 0, mean, U), torch.where(W == 0, mean, W)
    return U * mask.unsqueeze(-1), W


def _random_start(X: torch.Tensor, mask: torch.Tensor, rank: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded |normal| start scaled to A's mean, drawn per group on the CPU: the same alone or batched."""
    U = torch.zeros(*X.shape[:2], rank, dtype=X.dtype)
    W = torch.zeros(X.shape[0], rank, X.shape[-1], dtype=X.dtype)
    for g in range(X.shape[0]):
        n = int(mask[g].sum())
        avg = float(torch.sqrt(X[g].sum() / (n * X.shape[-1] * rank)))
        gen = torch.Generator().manual_seed(int(seed))
        W[g] = avg * torch.randn(rank, X.shape[-1], generator=gen, dtype=X.dtype).abs()
        U[g, mask[g].cpu()] = avg * torch.randn(n, rank, generator=gen, dtype=X.dtype).abs()
    return U.to(X.device), W.to(X.device)


def _metrics(U: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Share of zeros in U and mean Hoyer sparsity of its rows, over valid rows. Shapes: (G,), (G,)."""
    rows = mask.sum(-1).clamp_min(1)
    zeros = ((U == 0) & mask.unsqueeze(-1)).sum((-2, -1)) / (rows * U.shape[-1])
    r = U.shape[-1]
    l1, l2 = U.abs().sum(-1), torch.linalg.vector_norm(U, dim=-1)
    hoyer = (r**0.5 - l1 / l2.clamp_min(torch.finfo(U.dtype).tiny)) / max(r**0.5 - 1, 1e-12)
    hoyer = torch.where(l2 > 0, hoyer, 1.0) if r > 1 else torch.zeros_like(l1)
    return zeros, (hoyer * mask).sum(-1) / rows


def _unit_rows(U: torch.Tensor, W: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Rescale so each row of W has unit norm; U W is unchanged. Dead atoms stay zero."""
    norm = torch.linalg.vector_norm(W, dim=-1)
    safe = torch.where(norm > 0, norm, 1.0)
    return U * safe.unsqueeze(-2), W / safe.unsqueeze(-1)


def _finish(X, mask, U, W, n_iter, converged, method, batched, mean=None) -> Factorization:
    if method != "pca":
        U, W = _unit_rows(U, W)
    Xc = X if mean is None else torch.where(mask.unsqueeze(-1), X - mean.unsqueeze(-2), 0)
    err = _rel_error(Xc, U, W) * torch.linalg.matrix_norm(Xc) / torch.linalg.matrix_norm(X).clamp_min(1e-30)
    zeros, hoyer = _metrics(U, mask)
    out = Factorization(U, W, err, zeros, hoyer, n_iter, converged, method, mask if batched else None, mean)
    if not batched:
        for name in ("U", "W", "error", "sparsity", "hoyer", "n_iter", "converged", "mean"):
            value = getattr(out, name)
            setattr(out, name, None if value is None else value[0])
    return out


def _alternate(X, mask, U, W, step, max_iter: int, tol: float, check_every: int = 10):
    """Run `step(X, keep, Ut, W) -> (Ut, W)` per group until its relative error improves by < tol over
    `check_every` steps; a converged group leaves the batch, so it gets what it would get alone.

    The loop holds Uᵀ (G, R, N): see `hals_sweep`. Takes and returns U (G, N, R)."""
    U, W = U.transpose(-1, -2).contiguous(), W.clone()
    n_iter = torch.zeros(X.shape[0], dtype=torch.long, device=X.device)
    converged = torch.zeros(X.shape[0], dtype=torch.bool, device=X.device)
    idx = torch.arange(X.shape[0], device=X.device)
    x, keep, u, w = X, mask.unsqueeze(-2).to(X.dtype), U, W
    prev = _rel_error(x, u.transpose(-1, -2), w)
    for it in range(1, max_iter + 1):
        u, w = step(x, keep, u, w)
        if it % check_every and it < max_iter:
            continue
        err = _rel_error(x, u.transpose(-1, -2), w)
        done = (prev - err) <= tol * prev
        stop = done | (it == max_iter)
        U[idx[stop]], W[idx[stop]], n_iter[idx[stop]], converged[idx[stop]] = u[stop], w[stop], it, done[stop]
        go = ~stop
        if not bool(go.any()):
            break
        idx, x, keep, u, w, prev = idx[go], x[go], keep[go], u[go], w[go], err[go]
    return U.transpose(-1, -2), W, n_iter, converged


def _check_options(init: str, max_iter: int, tol: float, inits: Sequence[str]) -> None:
    if init not in inits:
        raise PhaseLensError(f"init must be one of {', '.join(inits)}; got {init!r}")
    if not isinstance(max_iter, int) or max_iter < 1 or not tol >= 0:
        raise PhaseLensError(f"max_iter must be an integer ≥ 1 and tol ≥ 0; got {max_iter!r} and {tol!r}")


def nmf(
    A,
    rank: int,
    *,
    mask: torch.Tensor | None = None,
    seed: int = 0,
    init: str = "nndsvd",
    max_iter: int = 500,
    tol: float = 1e-5,
    l1_U: float = 0.0,
    l1_W: float = 0.0,
) -> Factorization:
    """Non-negative matrix factorization A ≈ U W, U, W ≥ 0, by HALS (exact coordinate updates).

    Minimizes 0.5‖A − U W‖²_F + l1_U·‖U‖₁ + l1_W·‖W‖₁ per group. Every `check_every` = 10 iterations a
    group stops once its relative error improved by less than `tol` (relative); converged groups are frozen.
    The returned W rows have unit L2 norm (the scale moves into U; the product is unchanged).

    Args:
        A: non-negative activations: (N, C), (G, N, C), or a list of (N_g, C) matrices (padded internally).
        rank: number of atoms R, 1 ≤ R ≤ min(N_g, C).
        mask: (G, N) bool, True on real rows of a (G, N, C) batch; padded rows do not affect the fit.
        seed: seed of the ``random`` start; ``nndsvd`` and ``nndsvda`` are deterministic without it.
        init: ``nndsvd`` (SVD-based, zeros kept), ``nndsvda`` (zeros filled with the mean) or ``random``.
            With ``nndsvd``, atoms beyond the numerical rank of A start, and stay, zero.
        max_iter: most iterations (one update of U and of W each).
        tol: relative error improvement per 10 iterations under which a group has converged.
        l1_U: L1 penalty on U (penalizing only one factor lets the other grow: use both or neither).
        l1_W: L1 penalty on W.

    Returns:
        The `Factorization` (same seed and input: bit-identical results on the CPU).

    Shape:
        - A: (N, C) → U (N, R), W (R, C); (G, N, C) or G matrices → U (G, N_max, R), W (G, R, C).

    Example:
        >>> gen = torch.Generator().manual_seed(0)
        >>> A = torch.rand(40, 3, generator=gen) @ torch.rand(3, 16, generator=gen)
        >>> f = nmf(A, 3)
        >>> f.U.shape, f.W.shape, bool(f.error < 1e-3)
        (torch.Size([40, 3]), torch.Size([3, 16]), True)
    """
    _check_options(init, max_iter, tol, ("nndsvd", "nndsvda", "random"))
    X, m, batched = _prepare(A, mask, rank, "nmf")

    def step(X, keep, Ut, W):
        Ut = Ut.clone()
        hals_sweep(Ut, W @ X.transpose(-1, -2), W @ W.transpose(-1, -2), l1_U)
        Ut *= keep
        W = W.clone()
        hals_sweep(W, Ut @ X, Ut @ Ut.transpose(-1, -2), l1_W)
        return Ut, W

    with torch.no_grad():
        if init == "random":
            U, W = _random_start(X, m, rank, seed)
        else:
            U, W = _nndsvd(X, m, rank, fill=init == "nndsvda")
        U, W, n_iter, converged = _alternate(X, m, U, W, step, max_iter, tol)
        return _finish(X, m, U, W, n_iter, converged, "nmf", batched)


def semi_nmf(
    A,
    rank: int,
    *,
    mask: torch.Tensor | None = None,
    seed: int = 0,
    init: str = "nndsvd",
    max_iter: int = 500,
    tol: float = 1e-5,
) -> Factorization:
    """Semi-NMF A ≈ U W with U ≥ 0 and W signed (Ding, Li & Jordan 2010), for signed activations.

    Alternates the exact least-squares W given U with a HALS pass on U (an NNLS step, valid for signed W).
    Same batching, stopping rule and unit-norm W rows as `nmf`.

    Args:
        A: activations of any sign, (N, C), (G, N, C) or a list of (N_g, C) matrices.
        rank: number of atoms R, 1 ≤ R ≤ min(N_g, C).
        mask: (G, N) bool, True on real rows of a (G, N, C) batch.
        seed: seed of the ``random`` start.
        init: ``nndsvd`` (U from the dominant sign parts of the singular vectors) or ``random``.
        max_iter: most iterations.
        tol: relative error improvement per 10 iterations under which a group has converged.

    Returns:
        The `Factorization`.

    Shape:
        - as `nmf`.
    """
    _check_options(init, max_iter, tol, ("nndsvd", "random"))
    X, m, batched = _prepare(A, mask, rank, "semi_nmf")

    def least_squares_W(X, Ut):
        gram = Ut @ Ut.transpose(-1, -2)
        ridge = 1e-9 * gram.diagonal(dim1=-2, dim2=-1).mean(-1).clamp_min(1e-30)  # dead atoms stay solvable
        gram = gram + ridge.view(-1, 1, 1) * torch.eye(rank, dtype=X.dtype, device=X.device)
        return torch.linalg.solve(gram, Ut @ X)

    def step(X, keep, Ut, W):
        W = least_squares_W(X, Ut)
        Ut = Ut.clone()
        hals_sweep(Ut, W @ X.transpose(-1, -2), W @ W.transpose(-1, -2))  # more sweeps: no faster per second
        return Ut * keep, W

    with torch.no_grad():
        if init == "random":
            U, _ = _random_start(X.abs(), m, rank, seed)
        else:
            U, _ = _nndsvd(X, m, rank, fill=False)
        U, W, n_iter, converged = _alternate(X, m, U, least_squares_W(X, U.transpose(-1, -2)), step, max_iter, tol)
        return _finish(X, m, U, W, n_iter, converged, "semi_nmf", batched)


def pca(A, rank: int, *, mask: torch.Tensor | None = None, center: bool = True) -> Factorization:
    """PCA A ≈ U W + mean: W the top-R principal directions (orthonormal rows), U the scores.

    Each direction's sign is fixed so that its largest-magnitude entry is positive (deterministic).

    Args:
        A: activations of any sign, (N, C), (G, N, C) or a list of (N_g, C) matrices.
        rank: number of components R, 1 ≤ R ≤ min(N_g, C).
        mask: (G, N) bool, True on real rows of a (G, N, C) batch.
        center: subtract each group's row mean first (stored in `mean`).

    Returns:
        The `Factorization` (n_iter 1, converged True).

    Shape:
        - as `nmf`; mean: (C,) or (G, C).
    """
    X, m, batched = _prepare(A, mask, rank, "pca")
    with torch.no_grad():
        mean = X.sum(1) / m.sum(1, keepdim=True) if center else None
        Xc = X if mean is None else torch.where(m.unsqueeze(-1), X - mean.unsqueeze(-2), 0)
        P, S, Qh = torch.linalg.svd(Xc, full_matrices=False)
        W = Qh[..., :rank, :]
        sign = torch.sign(W.gather(-1, W.abs().argmax(-1, keepdim=True))).clamp_min(0) * 2 - 1
        W = W * sign
        U = P[..., :rank] * (S[..., :rank] * sign.squeeze(-1)).unsqueeze(-2) * m.unsqueeze(-1)
        ones = torch.ones(X.shape[0], dtype=torch.long, device=X.device)
        return _finish(X, m, U, W, ones, ones.bool(), "pca", batched, mean)


def transform(A, W, *, method: str = "nmf", mean: torch.Tensor | None = None, max_iter: int = 1000) -> torch.Tensor:
    """Coefficients of new activations with the atoms W fixed.

    ``nmf`` and ``semi_nmf``: NNLS, u = argmin_{u ≥ 0} ‖a − u W‖² per row, exact on the active set (see
    `phaselens.concepts.nnls`). ``pca``: least squares u = (a − mean) W⁺.

    Args:
        A: activations; any leading dimensions, e.g. (N, h, w, C) for per-position concept maps.
        W: atoms (R, C), or per group (G, R, C) with A of shape (G, ..., C).
        method: the factorization that made W.
        mean: pca's row mean, (C,) or (G, C).
        max_iter: most coordinate-descent sweeps of the NNLS solver.

    Returns:
        The coefficients.

    Shape:
        - A: (..., C), W: (R, C) → (..., R); A: (G, ..., C), W: (G, R, C) → (G, ..., R).

    Example:
        >>> transform(torch.tensor([[2.0, -1.0, 0.0]]), torch.eye(2, 3)).tolist()
        [[2.0, 0.0]]
    """
    if method not in METHODS:
        raise PhaseLensError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    A, W = torch.as_tensor(A), torch.as_tensor(W)
    grouped = W.ndim == 3
    if W.ndim not in (2, 3) or A.shape[-1:] != W.shape[-1:] or (grouped and (A.ndim < 2 or A.shape[0] != W.shape[0])):
        raise PhaseLensError(
            "transform needs A (..., C) with W (R, C), or A (G, ..., C) with W (G, R, C); "
            f"got {tuple(A.shape)} and {tuple(W.shape)}"
        )
    A = A if A.is_floating_point() else A.to(W.dtype)
    if not bool(A.isfinite().all()):
        raise PhaseLensError("transform: A holds NaN or infinite values; drop or fill them first")
    W3 = W if grouped else W.unsqueeze(0)
    flat = A.reshape(W3.shape[0], -1, A.shape[-1])
    if mean is not None:
        flat = flat - torch.as_tensor(mean).reshape(-1, 1, A.shape[-1])
    with torch.no_grad():
        U = flat @ torch.linalg.pinv(W3) if method == "pca" else nnls_batched(flat, W3, max_iter=max_iter)
    return U.reshape(*A.shape[:-1], W.shape[-2])
