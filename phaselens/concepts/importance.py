"""Concept importance: how much each concept of a bank drives one class logit, per image and overall.

Importance is an attribution through the decoder u ↦ h(u W) (Fel et al., NeurIPS 2023): the activations
A = g(x) of each image give coefficients per position u = transform(A, W) (NNLS for nmf banks), the
reconstruction is Â = u W (+ mean for pca), and y = h(Â)[class].

- ``gradient_input``: importance_c = Σ_positions u_c · ∂y/∂u_c per image. When h is pooling + a linear
  head it is exact: Σ_c importance_c + bias = y(Â), the logit of the reconstruction.
- ``sobol`` (CRAFT): total Sobol indices of the concepts when the coefficients are masked, ũ = u ⊙ M with
  the same mask M ∈ [0, 1]^R at every position, from a QMC design of n·(R+2) masks (`concept_masks`).

Where h is not affine, Gradient × Input is a first-order account only. At the input of the last block of a
pre-norm transformer (a ViT) it even sums to zero: patch tokens enter that block only through LayerNorm, so
y does not change when all of them are scaled, and Σ_c u_c ∂y/∂u_c = d/dt y(t Â) = 0. The concepts'
contributions are then signed and cancel; use ``sobol`` for their importance there.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import PhaseLensError
from ..model import as_image_model
from .bank import ConceptBank
from .extract import check_images
from .sobol import concept_masks, total_indices
from .split import Activations, Split, split_model

METHODS = ("gradient_input", "sobol")


@dataclass
class Importance:
    """Concept importances for one class.

    Attributes:
        per_image: importance of each concept in each image: u_c · ∂y/∂u_c summed over positions
            (``gradient_input``, in logit units), or the total Sobol index of the image (``sobol``).
        mean: the mean over images (CRAFT's global importance). Also `global_`.
        share: importance as a share of the class logit. ``gradient_input``: share_c = Σ_i per_image[i, c]
            / Σ_i logits[i] (a ratio of means over images, stable where single logits are near 0); the
            unexplained remainder 1 − Σ_c share_c is the bias and the reconstruction residual (plus, for a
            non-affine h, what Gradient × Input does not account for), as a share of the logit. Meaningful
            when the class logit is positive on average. ``sobol``: share_c = mean_c / Σ mean (indices
            normalized to sum to 1: a share of the logit's variance under masking, no remainder).
        logits: the model's class logit y(x) of each image.
        recon_logits: the class logit y(Â) of each image's reconstruction from the concepts.
        bias: y with every concept off (u = 0: Â = 0, or the mean for pca); for an affine h the head bias.
        method: ``gradient_input`` or ``sobol``.
        class_id: the class explained.

    Shape:
        - per_image: (N, R); mean, share: (R,); logits, recon_logits, bias, residual: (N,).
    """

    per_image: torch.Tensor
    mean: torch.Tensor
    share: torch.Tensor
    logits: torch.Tensor
    recon_logits: torch.Tensor
    bias: torch.Tensor
    method: str
    class_id: int

    @property
    def global_(self) -> torch.Tensor:
        """`mean`, under CRAFT's name (global importance). Shape: (R,)."""
        return self.mean

    @property
    def residual(self) -> torch.Tensor:
        """logit(x) − logit(Â): what the reconstruction from the concepts misses. Shape: (N,)."""
        return self.logits - self.recon_logits

    def order(self) -> torch.Tensor:
        """Concept indices from the most to the least important (by `mean`). Shape: (R,)."""
        return torch.argsort(self.mean, descending=True, stable=True)


def _setup(bank: ConceptBank, model: nn.Module, images: torch.Tensor, split: Split | None) -> Split:
    im = as_image_model(model)
    check_images(im, images, exact_size=True)
    split = split or split_model(im, bank.layer)
    if split.layer != bank.layer:
        raise PhaseLensError(f"the bank was extracted at layer {bank.layer!r} but the split is at {split.layer!r}")
    if split.channels != bank.channels:
        raise PhaseLensError(
            f"the bank has {bank.channels} channels but layer {bank.layer!r} of {im.name} has {split.channels}"
        )
    return split


def _class(bank: ConceptBank, class_id: int | None, classes: int) -> int:
    cls = bank.class_id if class_id is None else class_id
    if cls is None:
        raise PhaseLensError("the bank has no class_id: give importance(..., class_id=...)")
    if isinstance(cls, bool) or not isinstance(cls, int) or not 0 <= cls < classes:
        raise PhaseLensError(f"class_id must be an integer from 0 to {classes - 1}, got {cls!r}")
    return cls


def _logit(split: Split, A: Activations, cls: int, batch: int) -> torch.Tensor:
    return torch.cat([split.h(_rows(A, i, batch))[:, cls] for i in range(0, len(A), batch)])


def _rows(A: Activations, start: int, size: int) -> Activations:
    """Rows start … start + size of `A` (maps and prefix)."""
    prefix = None if A.prefix is None else A.prefix[start : start + size]
    return Activations(A.maps[start : start + size], prefix)


def importance(
    bank: ConceptBank,
    model: nn.Module,
    images: torch.Tensor,
    class_id: int | None = None,
    method: str = "gradient_input",
    split: Split | None = None,
    n: int = 32,
    seed: int = 0,
    batch: int = 64,
) -> Importance:
    """Importance of each concept of `bank` for the class logit, on `images`.

    Args:
        bank: concepts at a layer of `model` (from `extract`).
        model: the classifier.
        images: (N, C, H, W) in [0, 1] at the model's input size (usually the class's images).
        class_id: the logit explained; the bank's class by default.
        method: ``gradient_input`` or ``sobol`` (see the module docstring).
        split: a `split_model` result at the bank's layer to reuse.
        n: Sobol points per design matrix (a power of two); the design has n·(R+2) masks.
        seed: seed of the scrambled Sobol design.
        batch: images per forward pass (Sobol perturbations: about 4 · batch rows per pass).

    Returns:
        The `Importance` (tensors on the CPU).

    Shape:
        - images: (N, C, H, W); per_image: (N, R).

    Example:
        >>> import phaselens as pl
        >>> from phaselens.data import make_batch
        >>> from phaselens.concepts import extract
        >>> model = pl.load_model("zoo:cnn")
        >>> images, labels = make_batch(40)
        >>> bank = extract(model, images[labels == 3], rank=5, class_id=3)
        >>> imp = importance(bank, model, images[labels == 3])
        >>> bool(torch.allclose(imp.per_image.sum(1) + imp.bias, imp.recon_logits, atol=1e-4))
        True
    """
    if method not in METHODS:
        raise PhaseLensError(f"method must be one of {', '.join(METHODS)}; got {method!r}")
    split = _setup(bank, model, images, split)
    device = split._dummy.device
    with torch.no_grad():
        parts = [split.forward(images[i : i + batch].to(split._dummy)) for i in range(0, len(images), batch)]
        logits_all = torch.cat([y for _, y in parts])
        A = Activations(torch.cat([a.maps for a, _ in parts]), None)
        if parts[0][0].prefix is not None:
            A.prefix = torch.cat([a.prefix for a, _ in parts if a.prefix is not None])
        cls = _class(bank, class_id, logits_all.shape[1])
        u = bank.transform(A.maps)  # (N, h, w, R)
        W = bank.W.to(u)
        logits = logits_all[:, cls]
        recon = _logit(split, A.with_maps(bank.reconstruct(u)), cls, batch)
        bias = _logit(split, A.with_maps(bank.reconstruct(torch.zeros_like(u))), cls, batch)
    head = None
    if split.head is not None:  # h(Â) = mean_p(u) · (W w_y) + bias: everything is a matmul
        v = W @ split.head[0][cls].to(u)  # (R,) each concept's logit per unit of pooled coefficient
        head = u.mean((1, 2)) * v  # (N, R)
    if method == "gradient_input":
        if head is not None:
            per_image = head
        else:
            per_image = torch.cat([_grad_input(split, bank, A, u, cls, i, batch) for i in range(0, len(u), batch)])
        share = per_image.mean(0) / _nonzero(logits.mean())
    else:
        masks = concept_masks(bank.rank, n, seed=seed, device=device).to(u.dtype)  # (M, R)
        y = (head @ masks.T + bias[:, None]).T if head is not None else _sobol(split, bank, A, u, masks, cls, batch)
        per_image = torch.as_tensor(total_indices(y, n), dtype=torch.float32).T  # (N, R)
        total = per_image.mean(0).sum()
        share = per_image.mean(0) / total if float(total) > 0 else torch.zeros(bank.rank)
    per_image = per_image.float().cpu()
    return Importance(
        per_image,
        per_image.mean(0),
        share.float().cpu(),
        logits.float().cpu(),
        recon.float().cpu(),
        bias.float().cpu(),
        method,
        cls,
    )


def _nonzero(x: torch.Tensor) -> torch.Tensor:
    tiny = torch.finfo(x.dtype).tiny
    return torch.where(x.abs() < tiny, torch.full_like(x, tiny), x)


def _grad_input(
    split: Split, bank: ConceptBank, A: Activations, u: torch.Tensor, cls: int, start: int, size: int
) -> torch.Tensor:
    """Σ_positions u · ∂y/∂u for images start … start + size, through the network after the layer."""
    with torch.enable_grad():
        uc = u[start : start + size].detach().clone().requires_grad_(True)
        y = split.h(_rows(A, start, size).with_maps(bank.reconstruct(uc)))[:, cls]
        (grad,) = torch.autograd.grad(y.sum(), uc)
    return (uc * grad).sum((1, 2)).detach()


def _sobol(
    split: Split, bank: ConceptBank, A: Activations, u: torch.Tensor, masks: torch.Tensor, cls: int, batch: int
) -> torch.Tensor:
    """y(u ⊙ M) for every mask M and image, through the network after the layer. Shape: (M, N)."""
    m = masks.shape[0]
    step = max(1, 4 * batch // m)  # images per pass: about 4 · batch perturbed rows
    out = []
    with torch.no_grad():
        for i in range(0, len(u), step):
            ui = u[i : i + step]  # (k, h, w, R)
            perturbed = ui[:, None] * masks[None, :, None, None, :]  # (k, M, h, w, R)
            maps = bank.reconstruct(perturbed.reshape(-1, *ui.shape[1:]))
            Ai = _rows(A, i, step).with_maps(maps)  # prefix repeated M times per image
            y = torch.cat([split.h(_rows(Ai, j, 4 * batch))[:, cls] for j in range(0, len(Ai), 4 * batch)])
            out.append(y.reshape(len(ui), m).T)
    return torch.cat(out, dim=1)
