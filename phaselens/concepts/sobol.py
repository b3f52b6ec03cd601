"""Total Sobol indices from a quasi-Monte Carlo design: the importance of concepts in CRAFT.

One design and one estimator, used alike for a function on [0, 1]^d (`total_sobol`) and for a model:

    masks = concept_masks(R, n)                  # (n·(R+2), R) in [0, 1]
    y = h((u * masks[:, None]) @ W)[..., cls]    # one output per mask (and per image, in later dimensions)
    importance = total_indices(y, n)             # (R, ...) total index per concept

The design follows Saltelli: 2·d-dimensional QMC points give matrices A (first d columns) and B (last d),
and C_i is A with column i taken from B; rows are [A; B; C_1; …; C_d], n each. The total index of input i
by Jansen's estimator is S_Ti = Σ_j (f(A)_j − f(C_i)_j)² / (2 n Var f(A)). B's own outputs are not needed
for it but are part of the design (first-order estimators use them).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

from ..errors import PhaseLensError

SEQUENCES = ("sobol", "halton")


def _check(dim: int, n: int) -> None:
    if not isinstance(dim, (int, np.integer)) or dim < 1:
        raise PhaseLensError(f"dim must be an integer ≥ 1 (the number of inputs or concepts), got {dim!r}")
    if not isinstance(n, (int, np.integer)) or n < 2:
        raise PhaseLensError(f"n must be an integer ≥ 2 (points per design matrix), got {n!r}")


def sobol_design(
    dim: int, n: int = 32, *, seed: int = 0, scrambled: bool = True, sequence: str = "sobol"
) -> np.ndarray:
    """The Saltelli design [A; B; C_1; …; C_dim] from a 2·dim-dimensional QMC sequence.

    Args:
        dim: number of inputs d (concepts R).
        n: points per matrix; a power of two for ``sobol`` (its balance needs it).
        seed: seed of the scrambling (Owen scrambling for Sobol, permutations for Halton).
        scrambled: False gives the unscrambled sequence, as in the CRAFT reference (biased at small n).
        sequence: ``sobol`` or ``halton`` (the reference's).

    Returns:
        Points in [0, 1), float64.

    Shape:
        - output: (n·(dim+2), dim).

    Example:
        >>> d = sobol_design(3, 8)
        >>> d.shape, bool(((d >= 0) & (d < 1)).all())
        ((40, 3), True)
        >>> bool((d[16:24, 1:] == d[:8, 1:]).all() and (d[16:24, 0] == d[8:16, 0]).all())  # C_1 vs A, B
        True
    """
    _check(dim, n)
    if sequence not in SEQUENCES:
        raise PhaseLensError(f"sequence must be one of {', '.join(SEQUENCES)}; got {sequence!r}")
    if sequence == "sobol" and n & (n - 1):
        raise PhaseLensError(f"n must be a power of two for the Sobol sequence, got {n} (use {1 << n.bit_length()})")
    try:
        from scipy.stats import qmc
    except ImportError as e:
        raise PhaseLensError("Sobol indices need scipy: pip install phaselens[concepts]") from e
    engine_type = qmc.Sobol if sequence == "sobol" else qmc.Halton
    engine = engine_type(2 * dim, scramble=scrambled, rng=np.random.default_rng(seed))
    points = engine.random(n)
    A, B = points[:, :dim], points[:, dim:]
    blocks = [A, B]
    for i in range(dim):
        C = A.copy()
        C[:, i] = B[:, i]
        blocks.append(C)
    return np.concatenate(blocks)


def concept_masks(
    rank: int,
    n: int = 32,
    *,
    seed: int = 0,
    scrambled: bool = True,
    sequence: str = "sobol",
    device: torch.device | str = "cpu",
) -> torch.Tensor:
    """`sobol_design` for R concepts as a float32 tensor of masks: perturb coefficients as u ⊙ mask.

    Feed the model outputs, in the same row order, to `total_indices(y, n)`.

    Shape:
        - output: (n·(rank+2), rank).
    """
    design = sobol_design(rank, n, seed=seed, scrambled=scrambled, sequence=sequence)
    return torch.as_tensor(design, dtype=torch.float32, device=device)


def total_indices(y, n: int) -> np.ndarray:
    """Jansen's total Sobol indices from outputs on the design, one per input.

    Outputs with constant f(A) (no variance) give zeros.

    Args:
        y: outputs in design order [A; B; C_1; …; C_d] (array or tensor); further dimensions (images,
            classes) are estimated separately.
        n: points per matrix, as given to the design.

    Returns:
        Total index of each input, float64.

    Shape:
        - y: (n·(d+2), ...); output: (d, ...).

    Example:
        >>> design = sobol_design(2, 256)
        >>> total_indices(design[:, 0] + 2 * design[:, 1], 256).round(2).tolist()  # ∝ coefficient²
        [0.2, 0.8]
    """
    y = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    y = y.astype(np.float64)
    if not isinstance(n, (int, np.integer)) or n < 2 or y.ndim < 1 or len(y) % n or len(y) // n < 3:
        raise PhaseLensError(f"y must hold n·(d+2) outputs with n ≥ 2 and d ≥ 1; got {len(y)} for n = {n!r}")
    if not np.isfinite(y).all():
        raise PhaseLensError("y holds NaN or infinite outputs; check the model on the perturbed inputs")
    blocks = y.reshape(len(y) // n, n, *y.shape[1:])
    yA, yC = blocks[0], blocks[2:]
    var = yA.var(axis=0)
    jansen = ((yA - yC) ** 2).mean(axis=1) / 2
    return np.divide(jansen, var, out=np.zeros_like(jansen), where=var > 0)


def total_sobol(
    f: Callable[[np.ndarray], np.ndarray],
    dim: int,
    n: int = 1024,
    seed: int = 0,
    scrambled: bool = True,
    sequence: str = "sobol",
) -> np.ndarray:
    """Total Sobol indices of f with independent uniform inputs on [0, 1]^dim.

    Args:
        f: takes (M, dim) points and returns (M,) values.
        dim: number of inputs.
        n: points per design matrix (f is evaluated n·(dim+2) times).
        seed: scrambling seed.
        scrambled: False for the unscrambled design.
        sequence: ``sobol`` or ``halton``.

    Returns:
        S_T, one index per input.

    Shape:
        - output: (dim,).

    Example:
        >>> total_sobol(lambda x: x[:, 0] * x[:, 1], 2, n=1024).round(2).tolist()  # analytic: 4/7 each
        [0.57, 0.57]
    """
    design = sobol_design(dim, n, seed=seed, scrambled=scrambled, sequence=sequence)
    y = np.asarray(f(design))
    if y.shape != (len(design),):
        raise PhaseLensError(f"f must return one value per point, shape ({len(design)},); got {y.shape}")
    return total_indices(y, n)
