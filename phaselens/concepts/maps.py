"""Where concepts are: concept maps over images, and the crops where each concept is strongest.

- `concept_maps`: the coefficients u = transform(g(x), W) at every position, upsampled to the image
  (bilinear), or pixel-level maps: Gradient × Input of each concept's total coefficient Σ_positions u_c
  w.r.t. the image, through the NNLS solution in closed form on its active set (`nnls_coefficients`;
  CRAFT's implicit differentiation).
- `top_crops`: the crops (as `extract` cuts them) with the largest coefficient of each concept.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import PhaseLensError
from ..model import as_image_model
from .bank import ConceptBank
from .extract import check_images, crop_activations
from .nnls import nnls_coefficients
from .split import Split, split_model


def _split(bank: ConceptBank, model: nn.Module, split: Split | None) -> Split:
    im = as_image_model(model)
    split = split or split_model(im, bank.layer)
    if split.layer != bank.layer or split.channels != bank.channels:
        raise PhaseLensError(
            f"the bank is at layer {bank.layer!r} with {bank.channels} channels, "
            f"but the split is at {split.layer!r} with {split.channels}"
        )
    return split


def _coefficients(bank: ConceptBank, maps: torch.Tensor) -> torch.Tensor:
    """Differentiable coefficients of maps (N, h, w, D): NNLS on the active set, or pca's least squares."""
    W = bank.W.to(maps)
    if bank.method == "pca":
        mean = bank.mean.to(maps) if bank.mean is not None else 0
        return (maps - mean) @ torch.linalg.pinv(W)
    return nnls_coefficients(maps, W)


def _pixel_maps(x: torch.Tensor, split: Split, bank: ConceptBank) -> torch.Tensor:
    """Σ_channels x · ∂(Σ_positions u_c)/∂x for every concept c. Shape: (n, C, H, W) → (n, R, H, W)."""
    with torch.enable_grad():
        x = x.detach().clone().requires_grad_(True)
        totals = _coefficients(bank, split.g(x).maps).sum((1, 2))  # (n, R)
        grads = []
        for c in range(bank.rank):  # one backward per concept, every image at once
            (gc,) = torch.autograd.grad(totals[:, c].sum(), x, retain_graph=c < bank.rank - 1)
            grads.append((gc * x).sum(1))
    return torch.stack(grads, dim=1).detach()


def concept_maps(
    bank: ConceptBank,
    model: nn.Module,
    images: torch.Tensor,
    pixel: bool = False,
    split: Split | None = None,
    batch: int = 64,
) -> torch.Tensor:
    """Concept maps of images: how much of each concept is where.

    Args:
        bank: concepts at a layer of `model`.
        model: the classifier.
        images: (N, C, H, W) in [0, 1] at the model's input size.
        pixel: False: the coefficients per position, upsampled bilinearly (non-negative for nmf and
            semi_nmf banks). True: pixel-level Gradient × Input of each concept's coefficient summed over
            positions, summed over colour channels (signed).
        split: a `split_model` result at the bank's layer to reuse.
        batch: images per forward pass.

    Returns:
        The maps, on the CPU.

    Shape:
        - images: (N, C, H, W); output: (N, R, H, W).

    Example:
        >>> import phaselens as pl
        >>> from phaselens.data import make_batch
        >>> from phaselens.concepts import extract
        >>> model = pl.load_model("zoo:cnn")
        >>> images, labels = make_batch(20)
        >>> bank = extract(model, images[labels == 3], rank=4)
        >>> maps = concept_maps(bank, model, images[:3])
        >>> tuple(maps.shape), bool((maps >= 0).all())
        ((3, 4, 64, 64), True)
    """
    im = as_image_model(model)
    images = check_images(im, images, exact_size=True)
    split = _split(bank, im, split)
    out = []
    for i in range(0, len(images), batch):
        x = images[i : i + batch].to(split._dummy)
        if pixel:
            out.append(_pixel_maps(x, split, bank).cpu())
            continue
        with torch.no_grad():
            u = bank.transform(split.g(x).maps).permute(0, 3, 1, 2)  # (n, R, h, w)
            out.append(F.interpolate(u, size=images.shape[2:], mode="bilinear", align_corners=False).cpu())
    return torch.cat(out)


def top_crops(
    bank: ConceptBank,
    model: nn.Module,
    images: torch.Tensor,
    k: int = 10,
    patch: int | None = None,
    split: Split | None = None,
    batch: int = 64,
    crops: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The k crops with the largest coefficient of each concept (crops cut as `extract` cuts them).

    Args:
        bank: concepts at a layer of `model`.
        model: the classifier.
        images: (N, C, H, W) in [0, 1].
        k: crops per concept (at most the number of crops).
        patch: crop side; the bank's, else `default_patch` of the image side.
        split: a `split_model` result at the bank's layer to reuse.
        batch: crops per forward pass.
        crops: ``crop_activations(split, images, patch)``, already computed (e.g. shared with `extract_many`).

    Returns:
        (indices, boxes): for each concept the indices of its top crops into the crop list, strongest
        first, and the crop list as rows ``(image, y0, x0, y1, x1)`` (`crop_boxes`).

    Shape:
        - indices: (R, min(k, M)); boxes: (M, 5), M crops in all.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise PhaseLensError(f"k must be an integer ≥ 1 (crops per concept), got {k!r}")
    split = _split(bank, model, split)
    if patch is None and bank.on == "crops":
        patch = bank.settings.get("patch")
    A, boxes = crops if crops is not None else crop_activations(split, images, patch, batch)
    U = bank.transform(A)  # (M, R)
    indices = torch.topk(U, min(k, len(U)), dim=0).indices.T  # (R, k)
    return indices.cpu(), boxes
