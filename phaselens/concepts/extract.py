"""Concept extraction: activations of a class's images at a layer, factorized A ≈ U W into a `ConceptBank`.

Two kinds of rows:

- ``on="crops"`` (CRAFT, Fel et al. 2023): each image is cut into square crops of side `patch` with
  stride ``int(0.8 · patch)``, each crop is resized back to the model input (bilinear), run through g, and
  averaged over space: one row per crop. The default patch is CRAFT's 64 px of 224, ``round(side · 64 / 224)``
  (at least 8 px), which gives 4 × 4 = 16 crops per image at any side.
- ``on="positions"`` (holistic concepts, Fel et al. 2023): every spatial position of every whole image.

Forwards run without gradients in batches of about `batch` crops or images, on the model's device, and the
factorization of many classes is one batched call (`extract_many`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import PhaseLensError
from ..model import ImageModel, as_image_model, model_device_dtype
from .bank import SOURCES, ConceptBank
from .factorize import METHODS, Factorization, nmf, pca, semi_nmf
from .split import Split, split_model

PATCH_SHARE = 64 / 224  # CRAFT's crop side at 224 px
MIN_PATCH = 8


def default_patch(side: int) -> int:
    """CRAFT's crop side for images of `side` px: ``round(side · 64 / 224)``, at least 8 px (at most the side).

    Example:
        >>> default_patch(224), default_patch(64), default_patch(16)
        (64, 18, 8)
    """
    return int(min(side, max(MIN_PATCH, round(side * PATCH_SHARE))))


def crop_boxes(n: int, height: int, width: int, patch: int, stride: int | None = None) -> torch.Tensor:
    """The crops `extract` cuts: rows ``(image, y0, x0, y1, x1)``, image-major then row-major.

    Args:
        n: number of images.
        height, width: image size in pixels.
        patch: crop side.
        stride: step between crops; ``int(0.8 · patch)`` by default.

    Returns:
        Integer boxes (end exclusive).

    Shape:
        - output: (n · rows · cols, 5) with rows = (height − patch) // stride + 1, cols alike.

    Example:
        >>> crop_boxes(1, 64, 64, 18).shape, crop_boxes(1, 64, 64, 18)[1].tolist()
        (torch.Size([16, 5]), [0, 0, 14, 18, 32])
    """
    stride = stride or max(1, int(0.8 * patch))
    ys = torch.arange(0, height - patch + 1, stride)
    xs = torch.arange(0, width - patch + 1, stride)
    img, y, x = torch.meshgrid(torch.arange(n), ys, xs, indexing="ij")
    img, y, x = img.reshape(-1), y.reshape(-1), x.reshape(-1)
    return torch.stack([img, y, x, y + patch, x + patch], dim=1)


def check_images(model: ImageModel, images: Any, exact_size: bool = False, what: str = "images") -> torch.Tensor:
    """`images` as a float (N, C, H, W) tensor in [0, 1] with the model's channels, or a one-line error."""
    if not isinstance(images, torch.Tensor):
        raise PhaseLensError(f"{what} must be a torch tensor (N, C, H, W) in [0, 1], got {type(images).__name__}")
    shape = tuple(images.shape)
    if images.ndim != 4 or shape[0] == 0 or shape[1] != model.channels:
        raise PhaseLensError(
            f"{what} must be a non-empty (N, {model.channels}, H, W) batch for {model.name}; got shape {shape}"
        )
    if not images.is_floating_point():
        raise PhaseLensError(f"{what} must be float in [0, 1], got {images.dtype} (divide uint8 images by 255)")
    lo, hi = float(images.min()), float(images.max())
    if not (lo >= 0 and hi <= 1):
        raise PhaseLensError(
            f"{what} must be in [0, 1] (the model normalizes them itself); got values from {lo:.3g} to {hi:.3g}"
        )
    if exact_size and shape[2:] != tuple(model.input_size):
        h, w = model.input_size
        raise PhaseLensError(f"{what} are {shape[2]}x{shape[3]} but {model.name} takes {h}x{w}; resize them first")
    return images


def crop_activations(
    split: Split, images: torch.Tensor, patch: int | None = None, batch: int = 64
) -> tuple[torch.Tensor, torch.Tensor]:
    """Spatially averaged activations of every crop (see the module docstring), and the crop boxes.

    Returns:
        (A, boxes): one activation row per crop, on the model's device, and `crop_boxes` for them.

    Shape:
        - images: (N, C, H, W) in [0, 1]; A: (M, D); boxes: (M, 5), M = N · crops per image.
    """
    model = split.model
    images = check_images(model, images)
    n, _, height, width = images.shape
    patch = default_patch(min(height, width)) if patch is None else int(patch)
    if not MIN_PATCH // 4 <= patch <= min(height, width):
        raise PhaseLensError(f"patch must be from 2 to the image side {min(height, width)} px, got {patch}")
    stride = max(1, int(0.8 * patch))
    boxes = crop_boxes(n, height, width, patch, stride)
    per_image = len(boxes) // n
    device, dtype = model_device_dtype(model)
    step = max(1, batch // per_image)
    rows = []
    with torch.no_grad():
        for i in range(0, n, step):
            x = images[i : i + step].to(device=device, dtype=dtype)
            crops = x.unfold(2, patch, stride).unfold(3, patch, stride)  # (n, C, rows, cols, p, p)
            crops = crops.permute(0, 2, 3, 1, 4, 5).reshape(-1, x.shape[1], patch, patch)
            crops = F.interpolate(crops, size=model.input_size, mode="bilinear", align_corners=False)
            rows.append(split.g(crops.clamp(0, 1)).maps.mean((1, 2)))
    return torch.cat(rows), boxes


def position_activations(split: Split, images: torch.Tensor, batch: int = 64) -> torch.Tensor:
    """Activations at every position of whole images (at the model's input size).

    Shape:
        - images: (N, C, H, W) in [0, 1]; output: (N, h, w, D) on the model's device.
    """
    return split.activations(check_images(split.model, images, exact_size=True), batch).maps


def _check_rank(rank: Any) -> int:
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise PhaseLensError(f"rank must be an integer ≥ 1 (the number of concepts), got {rank!r}")
    return rank


def _factorize(rows: list[torch.Tensor], rank: int, method: str, seed: int, fit: dict[str, Any]) -> Factorization:
    if method == "nmf":
        return nmf(rows, rank, seed=seed, **fit)
    if method == "semi_nmf":
        return semi_nmf(rows, rank, seed=seed, **{k: v for k, v in fit.items() if not k.startswith("l1_")})
    return pca(rows, rank)


def extract_many(
    model: nn.Module,
    images_per_class: Sequence[torch.Tensor],
    class_ids: Sequence[int | None],
    layer: str | None = None,
    rank: int = 10,
    on: str = "crops",
    method: str = "auto",
    patch: int | None = None,
    seed: int = 0,
    batch: int = 64,
    *,
    split: Split | None = None,
    rows: Sequence[torch.Tensor] | None = None,
    init: str = "nndsvd",
    max_iter: int = 500,
    tol: float = 1e-5,
    l1_W: float = 0.0,
    l1_U: float = 0.0,
) -> list[ConceptBank]:
    """`extract` for many classes: activations per class, then ONE batched factorization of all of them.

    Args:
        model: the classifier (an `ImageModel` or a module `as_image_model` wraps).
        images_per_class: one (N_k, C, H, W) batch in [0, 1] per class (N_k may differ).
        class_ids: the class of each batch (None for a bank of no class).
        layer, rank, on, method, patch, seed, batch: as in `extract`; method ``auto`` picks nmf only when
            every class's activations are non-negative.
        split: a `split_model` result to reuse (its layer wins over `layer`).
        rows: the activations of each class, already computed (``crop_activations(split, images, patch)[0]``
            for crops, `position_activations` reshaped to (N·h·w, D) for positions), e.g. to share the crop
            forwards with `top_crops`; the images then only count.
        init, max_iter, tol: the factorization's start (``nndsvd``, ``nndsvda`` (nmf), ``random``), most
            iterations and stopping tolerance.
        l1_W, l1_U: L1 penalties of nmf (Xplique's CRAFT uses l1_W = 1e-2 with scikit-learn's scaling).

    Returns:
        One `ConceptBank` per class, in order. The rows of every class are held at once (on the model's
        device): for a thousand classes, call it on groups of classes.

    Shape:
        - images_per_class[k]: (N_k, C, H, W); each bank's W: (rank, D).
    """
    im = as_image_model(model)
    if not images_per_class:
        raise PhaseLensError("extract needs at least one batch of images (got an empty list)")
    if len(class_ids) != len(images_per_class):
        raise PhaseLensError(f"got {len(images_per_class)} image batches but {len(class_ids)} class ids")
    rank = _check_rank(rank)
    if on not in SOURCES:
        raise PhaseLensError(f"on must be one of {', '.join(SOURCES)}; got {on!r}")
    if method not in ("auto", *METHODS):
        raise PhaseLensError(f"method must be auto or one of {', '.join(METHODS)}; got {method!r}")
    split = split or split_model(im, layer)
    if rows is not None and (len(rows) != len(images_per_class) or {r.shape[-1] for r in rows} != {split.channels}):
        raise PhaseLensError(f"rows must be one (M_k, {split.channels}) matrix per class at {split.layer!r}")
    whats = [f"images of class {c}" if c is not None else "images" for c in class_ids]
    checked = [check_images(im, x, on == "positions", what) for x, what in zip(images_per_class, whats)]
    side = min(min(x.shape[-2:]) for x in checked)
    patch_used = (default_patch(side) if patch is None else int(patch)) if on == "crops" else None
    given, rows = rows, []
    for k, (images, what) in enumerate(zip(checked, whats)):
        if given is not None:
            A = given[k]
        elif on == "crops":
            A = crop_activations(split, images, patch_used, batch)[0]
        else:
            A = position_activations(split, images, batch).flatten(0, 2)
        if len(A) < rank or A.shape[1] < rank:
            unit = "crops" if on == "crops" else "positions"
            raise PhaseLensError(
                f"{what}: {len(A)} {unit} of {A.shape[1]} channels from {len(images)} image(s) are too few for "
                f"rank {rank} (need ≥ rank of each); give more images or a smaller rank"
            )
        rows.append(A)
    if method == "auto":
        method = "nmf" if split.nonnegative and all(bool((A >= 0).all()) for A in rows) else "semi_nmf"
    fit = {"init": init, "max_iter": max_iter, "tol": tol, "l1_W": l1_W, "l1_U": l1_U}
    f = _factorize(rows, rank, method, seed, fit)
    settings = {
        "rank": rank,
        "patch": patch_used,
        "stride": None if patch_used is None else max(1, int(0.8 * patch_used)),
        "seed": seed,
        "model": im.name,
        "input_size": list(im.input_size),
        **({} if method == "pca" else fit if method == "nmf" else {"init": init, "max_iter": max_iter, "tol": tol}),
    }
    banks = []
    for k, (A, images) in enumerate(zip(rows, checked)):
        metrics = {name: float(getattr(f, name)[k]) for name in ("error", "sparsity", "hoyer")}
        metrics |= {
            "n_iter": int(f.n_iter[k]),
            "converged": bool(f.converged[k]),
            "rows": len(A),
            "images": len(images),
        }
        mean = None if f.mean is None else f.mean[k].cpu()
        banks.append(ConceptBank(f.W[k].cpu(), split.layer, class_ids[k], method, on, dict(settings), metrics, mean))
    return banks


def extract(
    model: nn.Module,
    images: torch.Tensor,
    layer: str | None = None,
    rank: int = 10,
    on: str = "crops",
    method: str = "auto",
    patch: int | None = None,
    seed: int = 0,
    batch: int = 64,
    *,
    class_id: int | None = None,
    split: Split | None = None,
    **fit: Any,
) -> ConceptBank:
    """Extract R concepts from the images of one class: factorize their activations at `layer`.

    Args:
        model: the classifier (an `ImageModel` or a module `as_image_model` wraps).
        images: the class's images in [0, 1] (any size ≥ patch for crops; the model's size for positions).
        layer: where to split the model; None for `split_model`'s default.
        rank: number of concepts R.
        on: ``crops`` (CRAFT) or ``positions`` (every position of every image is a row).
        method: ``auto`` (nmf when the activations are non-negative, else semi_nmf), ``nmf``, ``semi_nmf``
            or ``pca``.
        patch: crop side in px (crops only); `default_patch` of the image side by default.
        seed: seed of a ``random`` start (the default ``nndsvd`` start is deterministic anyway).
        batch: crops (or images) per forward pass.
        class_id: recorded in the bank (and used by `importance` by default).
        split: a `split_model` result to reuse.
        **fit: ``init``, ``max_iter``, ``tol``, ``l1_W``, ``l1_U`` (see `extract_many`).

    Returns:
        The `ConceptBank`, with the fit's metrics.

    Raises:
        PhaseLensError: bad images (shape, channels, range), rank < 1 or more than the rows, bad options.

    Shape:
        - images: (N, C, H, W); bank.W: (rank, D).

    Example:
        >>> import phaselens as pl
        >>> from phaselens.data import make_batch
        >>> images, labels = make_batch(40)
        >>> bank = extract(pl.load_model("zoo:cnn"), images[labels == 3], rank=5, class_id=3)
        >>> bank.layer, bank.method, tuple(bank.W.shape), bank.metrics["rows"], bank.metrics["error"] < 0.5
        ('layer3', 'nmf', (5, 128), 64, True)
    """
    return extract_many(model, [images], [class_id], layer, rank, on, method, patch, seed, batch, split=split, **fit)[0]
