"""Non-negative least squares with a fixed dictionary, batched in torch, and its closed-form gradient.

For each row a of A the coefficients are u*(a) = argmin_{u ≥ 0} ‖a − u W‖². `nnls` runs coordinate
descent (HALS sweeps over the R coefficients), then solves the normal equations exactly on the active set
S = {k : u_k > 0} and keeps that solution wherever it meets the KKT conditions, so the result is exact,
not merely close. On a stable active set u_S = (W_S W_Sᵀ)⁻¹ W_S aᵀ is a smooth function of a and W;
`nnls_coefficients` recomputes it with autograd on, which gives pixel-level concept maps through
`torch.autograd.grad` (CRAFT's implicit differentiation, in closed form).
"""

from __future__ import annotations

import torch

from ..errors import PhaseLensError


def hals_sweep(V: torch.Tensor, B: torch.Tensor, Q: torch.Tensor, l1: float = 0.0) -> None:
    """One HALS pass over the rows of V, in place: exact minimization in V[:, k] for k = 0 … R−1.

    Minimizes ½ tr(Vᵀ Q V) − tr(Bᵀ V) + l1·ΣV over V ≥ 0, one row at a time with the others fixed. For
    coefficients of A ≈ U W: V = Uᵀ, B = W Aᵀ, Q = W Wᵀ; for atoms: V = W, B = Uᵀ A, Q = Uᵀ U. The atoms
    may be signed. Rows (R first) keep every product a contiguous (R, ·) block, which is faster in torch.

    Args:
        V: current values, updated in place.
        B: the linear term.
        Q: the Gram matrix (symmetric, non-negative diagonal).
        l1: L1 penalty on V.

    Shape:
        - V: (G, R, M); B: (G, R, M); Q: (G, R, R).
    """
    # A zero atom keeps its row (step 0 / tiny) instead of dividing by zero.
    diag = Q.diagonal(dim1=-2, dim2=-1).clamp_min(torch.finfo(V.dtype).tiny).unsqueeze(-1)
    B, Q = (B - l1) / diag, Q / diag
    for k in range(V.shape[-2]):
        # V_k ← max(0, V_k + (b_k − q_k V) / q_kk): three kernels per row, which is what bounds small fits.
        row = V[:, k : k + 1]
        row.add_(torch.baddbmm(B[:, k : k + 1], Q[:, k : k + 1], V, alpha=-1)).clamp_(min=0)


def _active_solve(B: torch.Tensor, Q: torch.Tensor, active: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Solve Q_SS u_S = b_S per row with u = 0 off S; second output: rows whose system was singular.

    Shape:
        - B: (G, M, R); Q: (G, R, R); active: (G, M, R) bool; outputs: (G, M, R) and (G, M) bool.
    """
    s = active.to(B.dtype)
    # Rows and columns off S become the identity, so their unknowns solve to 0 (the right side is 0 there).
    Qs = Q.unsqueeze(1) * (s.unsqueeze(-1) * s.unsqueeze(-2)) + torch.diag_embed(1 - s)
    u, info = torch.linalg.solve_ex(Qs, (B * s).unsqueeze(-1), check_errors=False)
    return torch.where(active, u.squeeze(-1), 0), info != 0  # where: no −0.0 off S


def _kkt_ok(U: torch.Tensor, B: torch.Tensor, Q: torch.Tensor) -> torch.Tensor:
    """Rows where U ≥ 0 is optimal: gradient U Q − B is ≈0 on the support and ≥ −tol off it. Shape: (G, M)."""
    grad = U @ Q - B
    scale = B.abs().amax(-1, keepdim=True) + U.abs().amax(-1, keepdim=True) * Q.abs().amax((-2, -1), keepdim=True)
    tol = 1e3 * torch.finfo(U.dtype).eps * scale.clamp_min(torch.finfo(U.dtype).tiny)
    on = U > 0
    ok_on = torch.where(on, grad.abs() <= tol, True).all(-1)
    ok_off = torch.where(on, True, grad >= -tol).all(-1)
    return ok_on & ok_off & (U >= 0).all(-1) & U.isfinite().all(-1)


def nnls_batched(A: torch.Tensor, W: torch.Tensor, *, max_iter: int = 1000, check_every: int = 10) -> torch.Tensor:
    """NNLS coefficients of every row of A against the atoms W, groups batched.

    Args:
        A: activations.
        W: the fixed dictionary (atoms as rows), non-negative or signed.
        max_iter: most HALS sweeps; rows still failing KKT after that keep their coordinate-descent value.
        check_every: sweeps between exact active-set solves.

    Returns:
        U ≥ 0 with A ≈ U W, exact (KKT to rounding) wherever the active set was found.

    Shape:
        - A: (G, M, C); W: (G, R, C); output: (G, M, R).
    """
    with torch.no_grad():
        # float64 inside: the normal equations square W's condition number, too much for float32.
        A64, W64 = A.to(torch.float64), W.to(torch.float64)
        Q = W64 @ W64.transpose(-1, -2)
        Bt = W64 @ A64.transpose(-1, -2)
        B = Bt.transpose(-1, -2)
        Ut = torch.zeros_like(Bt)
        best = B.new_zeros(B.shape)
        done = torch.zeros(B.shape[:-1], dtype=torch.bool, device=B.device)
        for _ in range(0, max_iter, check_every):
            for _ in range(check_every):
                hals_sweep(Ut, Bt, Q)
            U = Ut.transpose(-1, -2)
            exact, singular = _active_solve(B, Q, U > 0)
            ok = _kkt_ok(exact, B, Q) & ~singular
            best = torch.where(ok.unsqueeze(-1) & ~done.unsqueeze(-1), exact, best)
            done |= ok
            if bool(done.all()):
                break
            Ut = torch.where(done.unsqueeze(-1), best, U).transpose(-1, -2).contiguous()
        return torch.where(done.unsqueeze(-1), best, U).to(A.dtype)


def nnls_coefficients(a: torch.Tensor, W: torch.Tensor, *, max_iter: int = 1000) -> torch.Tensor:
    """NNLS coefficients u*(a) = argmin_{u ≥ 0} ‖a − u W‖², differentiable in a and W on the active set.

    Solves without autograd, then recomputes u_S = (W_S W_Sᵀ)⁻¹ W_S aᵀ (zero off S) with autograd on.
    The gradient is exact where the active set is stable (no coefficient exactly at 0 with zero
    gradient); where a coefficient is about to enter or leave S it is one-sided.

    Args:
        a: activations, any leading dimensions (e.g. (N, h, w, C) for per-position concept maps).
        W: concept bank, atoms as rows.
        max_iter: most coordinate-descent sweeps of the solver.

    Returns:
        The coefficients, with a grad_fn when a or W requires grad.

    Shape:
        - a: (..., C); W: (R, C); output: (..., R).

    Example:
        >>> W = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
        >>> a = torch.tensor([[2.0, -1.0]], requires_grad=True)
        >>> u = nnls_coefficients(a, W)
        >>> u.detach().tolist()
        [[2.0, 0.0]]
        >>> torch.autograd.grad(u[0, 0], a)[0].tolist()
        [[1.0, 0.0]]
    """
    if W.ndim != 2 or a.shape[-1:] != W.shape[-1:]:
        raise PhaseLensError(
            f"nnls needs a (..., C) and W (R, C) with the same C; got {tuple(a.shape)} and {tuple(W.shape)}"
        )
    flat = a.reshape(1, -1, a.shape[-1])
    u = nnls_batched(flat.detach(), W.detach().unsqueeze(0), max_iter=max_iter)
    a64, W64 = flat.to(torch.float64), W.to(torch.float64)  # as in the solver: the Gram squares W's condition
    exact, _ = _active_solve(a64 @ W64.T, (W64 @ W64.T).unsqueeze(0), u > 0)
    return exact.to(a.dtype).reshape(*a.shape[:-1], W.shape[0])
