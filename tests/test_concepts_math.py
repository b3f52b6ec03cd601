"""The numerics of phaselens.concepts: factorizations, NNLS and its gradient, total Sobol indices."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy.optimize import linear_sum_assignment
from scipy.optimize import nnls as scipy_nnls

from phaselens.concepts import (
    concept_masks,
    nmf,
    nnls_coefficients,
    pca,
    semi_nmf,
    sobol_design,
    total_indices,
    total_sobol,
    transform,
)
from phaselens.errors import PhaseLensError


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """These problems are tiny: with a second thread, waiting on a busy core costs more than it saves."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def planted(seed: int, n: int = 200, c: int = 64, rank: int = 5, signed: bool = False):
    """A = U W exactly, with sparse-ish U ≥ 0 and W ≥ 0 (or signed W)."""
    gen = torch.Generator().manual_seed(seed)
    U = torch.rand(n, rank, generator=gen) * (torch.rand(n, rank, generator=gen) < 0.5)
    U[torch.arange(rank), torch.arange(rank)] = 1.0  # every atom is used
    if signed:
        W = torch.randn(rank, c, generator=gen)
    else:
        W = torch.rand(rank, c, generator=gen) * (torch.rand(rank, c, generator=gen) < 0.6)
    return U @ W, U, W


def activations(seed: int, n: int = 200, c: int = 64, dtype=torch.float32) -> torch.Tensor:
    """Zoo-like: post-ReLU mixtures of 16 directions plus noise, not exactly low rank."""
    gen = torch.Generator().manual_seed(seed)
    mix = torch.randn(n, 16, generator=gen, dtype=dtype) @ torch.randn(16, c, generator=gen, dtype=dtype)
    return torch.relu(mix + 0.3 * torch.randn(n, c, generator=gen, dtype=dtype))


def matched_cosines(W_true: torch.Tensor, W_found: torch.Tensor) -> np.ndarray:
    """Cosines between rows after Hungarian matching on cosine."""
    a = torch.nn.functional.normalize(W_true.double(), dim=1)
    b = torch.nn.functional.normalize(W_found.double(), dim=1)
    cos = (a @ b.T).numpy()
    rows, cols = linear_sum_assignment(-cos)
    return cos[rows, cols]


# --- NMF ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("init", ["nndsvd", "nndsvda", "random"])
def test_nmf_recovers_a_planted_factorization(init):
    A, _, W = planted(0)
    f = nmf(A, 5, init=init)
    assert float(f.error) < 0.01
    assert matched_cosines(W, f.W).min() >= 0.99
    assert bool((f.U >= 0).all() and (f.W >= 0).all())
    assert torch.allclose(torch.linalg.vector_norm(f.W, dim=1), torch.ones(5))  # unit rows, scale in U
    assert torch.allclose(f.reconstruct(), A, atol=0.01 * float(A.abs().max()))


def test_nmf_is_bit_identical_with_a_seed_and_seeds_differ():
    A = activations(1)
    for init in ("nndsvd", "random"):
        first, second = nmf(A, 6, init=init, seed=3), nmf(A, 6, init=init, seed=3)
        assert torch.equal(first.U, second.U) and torch.equal(first.W, second.W)
    other = nmf(A, 6, init="random", seed=4)
    assert not torch.equal(other.W, nmf(A, 6, init="random", seed=3).W)
    assert abs(float(other.error) - float(first.error)) < 0.02  # another start, a fit as good


def test_nmf_metrics_say_what_was_fitted():
    A = activations(2)
    f = nmf(A, 8, max_iter=10, tol=0.0)
    assert int(f.n_iter) == 10 and not bool(f.converged)
    assert float(f.sparsity) == pytest.approx(float((f.U == 0).double().mean()))
    assert float(f.error) == pytest.approx(float(torch.linalg.norm(A - f.U @ f.W) / torch.linalg.norm(A)), rel=1e-5)
    assert 0 <= float(f.hoyer) <= 1
    done = nmf(A, 8)
    assert bool(done.converged) and int(done.n_iter) < 500 and float(done.error) < float(f.error)


def test_l1_penalties_trade_error_for_sparsity():
    A = activations(2)
    plain, sparse = nmf(A, 8), nmf(A, 8, l1_U=30.0, l1_W=30.0)
    assert float(sparse.sparsity) > float(plain.sparsity) + 0.1 and float(sparse.hoyer) > float(plain.hoyer)
    assert float((sparse.W == 0).double().mean()) > float((plain.W == 0).double().mean())
    assert float(sparse.error) > float(plain.error)


def test_batched_nmf_over_groups_of_different_sizes_matches_one_group_at_a_time():
    mats = [activations(s, n=n, dtype=torch.float64) for s, n in zip(range(4), (120, 200, 150, 90))]
    batch = nmf(mats, 6, max_iter=120)
    assert (
        batch.U.shape == (4, 200, 6)
        and batch.W.shape == (4, 6, 64)
        and batch.mask.sum(1).tolist() == [120, 200, 150, 90]
    )
    for g, A in enumerate(mats):
        alone = nmf(A, 6, max_iter=120)
        assert int(batch.n_iter[g]) == int(alone.n_iter)
        torch.testing.assert_close(batch.W[g], alone.W, rtol=0, atol=1e-8)
        torch.testing.assert_close(batch.coefficients(g), alone.U, rtol=0, atol=1e-8)
        torch.testing.assert_close(batch.error[g], alone.error, rtol=1e-10, atol=0)
    assert bool((batch.U[~batch.mask] == 0).all())
    # A padded (G, N, C) batch with a mask: whatever is in the padded rows is ignored.
    padded = torch.full((4, 200, 64), -7.0, dtype=torch.float64)
    for g, A in enumerate(mats):
        padded[g, : len(A)] = A
    masked = nmf(padded, 6, mask=batch.mask, max_iter=120)
    assert torch.equal(masked.W, batch.W) and torch.equal(masked.U, batch.U)


def test_nmf_is_as_good_as_scikit_learn():
    from sklearn.decomposition import NMF

    for seed in range(2):
        A = activations(10 + seed, dtype=torch.float64)
        ours = float(nmf(A, 8).error)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a ConvergenceWarning of sklearn's own
            sk = NMF(8, init="nndsvda", max_iter=1000, random_state=0)
            U = sk.fit_transform(A.numpy())
        theirs = np.linalg.norm(A.numpy() - U @ sk.components_) / np.linalg.norm(A.numpy())
        assert ours <= 1.05 * theirs + 1e-3, (ours, theirs)


# --- signed factorizations ------------------------------------------------------------------------------


@pytest.mark.parametrize("init", ["nndsvd", "random"])
def test_semi_nmf_reconstructs_a_planted_signed_matrix(init):
    A, _, _ = planted(3, signed=True)
    assert bool((A < 0).any())
    f = semi_nmf(A, 5, init=init, max_iter=300)
    assert float(f.error) < 1e-3
    assert bool((f.U >= 0).all()) and bool((f.W < 0).any())
    # Fewer atoms than the planted rank cannot fit it: the error says so.
    assert float(semi_nmf(A, 3, init=init, max_iter=100).error) > 0.1


def test_pca_reconstructs_a_planted_signed_matrix_and_transforms_back():
    A, _, _ = planted(4, signed=True)
    A = A + 3.0  # an offset that centering removes
    f = pca(A, 5)
    assert float(f.error) < 1e-5
    torch.testing.assert_close(f.W @ f.W.T, torch.eye(5), atol=1e-5, rtol=0)
    torch.testing.assert_close(f.reconstruct(), A, atol=1e-4, rtol=0)
    torch.testing.assert_close(f.transform(A), f.U, atol=1e-4, rtol=0)
    assert float(pca(A, 5, center=False).error) > 1e-3  # rank 5 plus an offset is rank 6
    batch = pca([A[:150], A[50:]], 5)
    torch.testing.assert_close(batch.W[0], pca(A[:150], 5).W, atol=1e-4, rtol=0)  # signs fixed, not arbitrary


# --- NNLS ------------------------------------------------------------------------------------------


def nnls_problem(seed: int, m: int = 60, c: int = 40, rank: int = 8, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    W = torch.rand(rank, c, generator=gen, dtype=dtype)
    A = torch.rand(m, rank, generator=gen, dtype=dtype) @ W + 0.5 * torch.randn(m, c, generator=gen, dtype=dtype)
    return A, W


@pytest.mark.parametrize("seed", range(3))
def test_transform_matches_scipy_nnls_and_meets_kkt(seed):
    A, W = nnls_problem(seed)
    U = transform(A, W)
    reference = np.stack([scipy_nnls(W.numpy().T, a)[0] for a in A.numpy()])
    np.testing.assert_allclose(U.numpy(), reference, atol=1e-5, rtol=0)
    # Exact once the active set is found, long before coordinate descent alone gets there (~1e-4 off at 100).
    np.testing.assert_allclose(transform(A, W, max_iter=100).numpy(), reference, atol=1e-10, rtol=0)
    assert 0.05 < float((U == 0).double().mean()) < 0.95  # both sides of the constraint are exercised
    grad = (U @ W - A) @ W.T  # ∂/∂u of ½‖a − uW‖²
    assert bool((U >= 0).all())
    assert float(grad[U > 0].abs().max()) < 1e-8
    assert float(grad[U == 0].min()) > -1e-8


def test_transform_keeps_leading_dimensions_and_batches_dictionaries():
    A, W = nnls_problem(5, m=24)
    maps = transform(A.reshape(2, 3, 4, 40), W)  # (N, h, w, C) → (N, h, w, R)
    assert maps.shape == (2, 3, 4, 8)
    torch.testing.assert_close(maps.reshape(24, 8), transform(A, W))
    A2, W2 = nnls_problem(6, m=24)
    both = transform(torch.stack([A, A2]), torch.stack([W, W2]))
    torch.testing.assert_close(both[1], transform(A2, W2))
    f32 = transform(A.float(), W.float())
    assert f32.dtype == torch.float32
    torch.testing.assert_close(f32.double(), transform(A, W), atol=1e-4, rtol=1e-4)


def test_nnls_gradient_is_the_closed_form_and_passes_gradcheck():
    A, W = nnls_problem(7, m=3, c=12, rank=4)
    U = transform(A, W)
    # A point with a stable active set: no coefficient near the boundary of its constraint.
    grad = (U @ W - A) @ W.T
    assert float(torch.where(U > 0, U, grad).min()) > 1e-3 and bool((U == 0).any() and (U > 0).any())
    a, w = A.clone().requires_grad_(), W.clone().requires_grad_()
    assert torch.autograd.gradcheck(nnls_coefficients, (a, w))
    u = nnls_coefficients(a, w)
    torch.testing.assert_close(u.detach(), U)
    # Closed form for row 0: ∂u_S/∂a = (W_S W_Sᵀ)⁻¹ W_S, and zero rows off S.
    jac = torch.autograd.functional.jacobian(lambda x: nnls_coefficients(x, W), A[:1])[0, :, 0, :]
    S = U[0] > 0
    expected = torch.zeros(4, 12, dtype=torch.float64)
    expected[S] = torch.linalg.solve(W[S] @ W[S].T, W[S])
    torch.testing.assert_close(jac, expected)
    # float32 in, float32 out, solved as accurately as the float64 path.
    u32 = nnls_coefficients(A.float().requires_grad_(), W.float())
    assert u32.dtype == torch.float32 and u32.grad_fn is not None
    torch.testing.assert_close(
        u32.detach().double(), transform(A.float().double(), W.float().double()), atol=1e-6, rtol=0
    )


# --- Sobol -----------------------------------------------------------------------------------------

# Ishigami f = sin x1 + a sin² x2 + b x3⁴ sin x1, x ~ U(−π, π)³. With E x⁴ = π⁴/5, E x⁸ = π⁸/9, E sin² = 1/2:
# V1 = Var(sin x1 (1 + b E x3⁴)) = ½(1 + bπ⁴/5)²; V2 = a² Var(sin² x2) = a²(3/8 − 1/4) = a²/8; V3 = 0;
# V13 = ½ b² Var(x3⁴) = ½ b² (π⁸/9 − π⁸/25) = b²π⁸(1/18 − 1/50). Totals: S_T1 = (V1 + V13)/V, S_T2 = V2/V,
# S_T3 = V13/V with V = V1 + V2 + V13.
A_ISH, B_ISH = 7.0, 0.1
V1 = 0.5 * (1 + B_ISH * np.pi**4 / 5) ** 2
V2 = A_ISH**2 / 8
V13 = B_ISH**2 * np.pi**8 * (1 / 18 - 1 / 50)
ISHIGAMI_TOTAL = np.array([V1 + V13, V2, V13]) / (V1 + V2 + V13)  # ≈ 0.558, 0.442, 0.244


def ishigami(x: np.ndarray) -> np.ndarray:
    x = (2 * x - 1) * np.pi
    return np.sin(x[:, 0]) + A_ISH * np.sin(x[:, 1]) ** 2 + B_ISH * x[:, 2] ** 4 * np.sin(x[:, 0])


def test_total_sobol_on_ishigami_is_close_to_the_analytic_indices():
    assert np.allclose(ISHIGAMI_TOTAL, [0.5576, 0.4424, 0.2437], atol=1e-4)
    assert np.abs(total_sobol(ishigami, 3, n=1024, seed=0) - ISHIGAMI_TOTAL).max() < 0.01
    replicates = np.mean([total_sobol(ishigami, 3, n=1024, seed=s) for s in range(8)], axis=0)
    assert np.abs(replicates - ISHIGAMI_TOTAL).max() < 0.01


def test_total_sobol_of_a_linear_function_is_proportional_to_coefficient_squared():
    coef = np.array([1.0, -2.0, 0.5, 0.0])
    indices = total_sobol(lambda x: x @ coef, 4, n=512)
    np.testing.assert_allclose(indices, coef**2 / (coef**2).sum(), atol=0.01)
    assert indices[3] == 0.0
    design = sobol_design(4, 512)
    np.testing.assert_array_equal(total_indices(design @ coef, 512), indices)  # one implementation


def test_unscrambled_design_is_biased_at_small_n():
    unscrambled = np.abs(total_sobol(ishigami, 3, n=32, scrambled=False, sequence="halton") - ISHIGAMI_TOTAL).max()
    scrambled = [
        np.abs(total_sobol(ishigami, 3, n=32, seed=s, sequence="halton") - ISHIGAMI_TOTAL).max() for s in range(10)
    ]
    assert np.mean(scrambled) < unscrambled


def test_concept_masks_feed_total_indices_per_image():
    n, rank = 256, 5  # CRAFT's n = 32 is noisier (±0.1 here)
    masks = concept_masks(rank, n, seed=1)
    assert masks.shape == (n * (rank + 2), rank) and masks.dtype == torch.float32
    assert bool((masks[2 * n : 3 * n, 1:] == masks[:n, 1:]).all())  # C_1 is A but for concept 0
    # A linear decoder on two images with different coefficients: concept c's importance ∝ (u_c w_c)².
    u = torch.tensor([[1.0, 2.0, 0.0, 1.0, 3.0], [2.0, 0.0, 1.0, 1.0, 0.0]])
    w = torch.tensor([1.0, 1.0, 2.0, -1.0, 0.5])
    y = (masks[:, None, :] * u) @ w  # (masks, images)
    indices = total_indices(y, n)
    assert indices.shape == (rank, 2)
    for image in range(2):
        expected = (u[image] * w).numpy() ** 2
        np.testing.assert_allclose(indices[:, image], expected / expected.sum(), atol=0.03)
        np.testing.assert_allclose(indices[:, image], total_indices(y[:, image], n), rtol=1e-12)
    assert total_indices(np.ones(n * (rank + 2)), n).tolist() == [0.0] * rank  # constant: no importance


# --- bad input --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: nmf(torch.rand(20, 8), 0), "rank must be an integer from 1 to min"),
        (lambda: nmf(torch.rand(20, 8), 9), r"min\(N, C\) = 8"),
        (lambda: nmf([torch.rand(20, 8), torch.rand(4, 8)], 5), r"min\(N, C\) = 4"),
        (lambda: nmf(torch.randn(20, 8), 3), "use semi_nmf or pca for signed activations"),
        (lambda: nmf(torch.tensor([[1.0, float("nan")], [0.0, 1.0]]), 1), "NaN"),
        (lambda: semi_nmf(torch.full((4, 4), float("inf")), 1), "NaN or infinite"),
        (lambda: pca(torch.rand(5), 1), r"shape \(N, C\)"),
        (lambda: nmf(torch.rand(20, 8), 2, init="svd"), "init must be one of"),
        (lambda: nmf(torch.rand(2, 20, 8), 2, mask=torch.ones(2, 19, dtype=torch.bool)), "mask must have shape"),
        (lambda: transform(torch.rand(3, 7), torch.rand(2, 8)), "same C|transform needs"),
        (lambda: transform(torch.rand(3, 8), torch.rand(2, 8), method="kmeans"), "method must be one of"),
        (lambda: total_sobol(ishigami, 0), "dim must be an integer ≥ 1"),
        (lambda: total_sobol(ishigami, 3, n=1), "n must be an integer ≥ 2"),
        (lambda: total_sobol(ishigami, 3, n=1000), r"power of two.*use 1024"),
        (lambda: total_sobol(lambda x: x, 3, n=8), "one value per point"),
        (lambda: sobol_design(3, 8, sequence="lhs"), "sequence must be one of"),
        (lambda: total_indices(np.zeros(10), 4), r"n·\(d\+2\)"),
        (lambda: nnls_coefficients(torch.rand(3, 8), torch.rand(2, 7)), "same C"),
    ],
)
def test_bad_input_raises_one_clear_line(call, message):
    with pytest.raises(PhaseLensError, match=message) as info:
        call()
    assert "\n" not in str(info.value)
