"""Natural reference images per class: procedural by default, or an ImageFolder.

An ImageFolder has one subfolder per class. Folder names map to class indices
by the first rule that fits every folder: all integers (the index itself), all
class names of the model (case-insensitive), else sorted order (torchvision's
ImageFolder convention, which for ImageNet's ``n0...`` synset folders is the
standard 1000-class index order).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..data import NUM_CLASSES, make_batch
from ..errors import PhaseLensError
from ..imagefiles import EXTENSIONS, load_square
from ..io import save_png

# ProceduralShapes seeds: 1 trains the zoo, 2 validates, 3 is its test set.
# The benchmark uses seeds never seen in training or model selection.
REFERENCE_SEED = 4
HOLDOUT_SEED = 5


@dataclass
class Reference:
    """Natural images with labels, and the classes they cover.

    Attributes:
        images: (M, C, H, W) float in [0, 1].
        labels: (M,) long class indices.
        classes: sorted class indices present (the classes the benchmark visualizes).
        source: a description for manifests.
        holdout: optional (K, C, H, W) further natural images, one per class per
            seed, scored like visualizations as a reference row.
        holdout_labels: (K,) their classes.
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[int]
    source: str
    holdout: torch.Tensor | None = None
    holdout_labels: torch.Tensor | None = None


def procedural_reference(per_class: int, size: int = 64, seeds: int = 1) -> Reference:
    """`per_class` ProceduralShapes images per class (seed `REFERENCE_SEED`), and `seeds`
    held-out images per class (seed `HOLDOUT_SEED`) for the natural reference row."""
    images, labels = make_batch(per_class * NUM_CLASSES, size, REFERENCE_SEED)
    hold, hold_labels = make_batch(seeds * NUM_CLASSES, size, HOLDOUT_SEED)
    return Reference(
        images,
        labels,
        list(range(NUM_CLASSES)),
        f"ProceduralShapes(seed={REFERENCE_SEED}, {per_class}/class, {size}px)",
        hold,
        hold_labels,
    )


def class_folders(root: str | os.PathLike) -> list[Path]:
    """The non-hidden subfolders of `root`, sorted; an error if there are none."""
    root = Path(root)
    if not root.is_dir():
        raise PhaseLensError(f"--images {root} is not a folder")
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise PhaseLensError(f"--images {root} has no class subfolders (expected ROOT/CLASS/image.jpg)")
    return folders


def folder_classes(names: Sequence[str], class_names: Sequence[str] | None) -> list[int]:
    """Class index of each folder name; see the module docstring for the rules."""
    if all(n.isdigit() for n in names):
        return [int(n) for n in names]
    lowered = [c.lower() for c in class_names or []]
    if lowered and all(n.lower() in lowered for n in names):
        return [lowered.index(n.lower()) for n in names]
    return list(range(len(names)))


def folder_reference(
    root: str | os.PathLike,
    class_names: Sequence[str] | None,
    size: int,
    per_class: int,
    seeds: int = 1,
) -> Reference:
    """Up to `per_class` images of each class folder, resized and centre-cropped to `size`.

    The first `seeds` images (sorted by path) of each class are held out as the
    natural reference row when the folder has more than `seeds` images.
    """
    folders = class_folders(root)
    indices = folder_classes([f.name for f in folders], class_names)
    images: list[torch.Tensor] = []
    hold: list[torch.Tensor] = []
    labels: list[int] = []
    hold_labels: list[int] = []
    for folder, k in zip(folders, indices):
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in EXTENSIONS and not p.name.startswith("."))
        if len(files) < 2:
            raise PhaseLensError(f"class folder {folder} needs at least 2 images, found {len(files)}")
        n_hold = seeds if len(files) > seeds + 1 else 0
        for i, path in enumerate(files[: per_class + n_hold]):
            try:
                arr = load_square(path, size)
            except OSError as err:
                raise PhaseLensError(f"cannot read image {path}: {err}") from None
            target = (hold, hold_labels) if i < n_hold else (images, labels)
            target[0].append(torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1))))
            target[1].append(k)
    return Reference(
        torch.stack(images),
        torch.tensor(labels),
        sorted(set(indices)),
        f"image folder {root} ({size}px)",
        torch.stack(hold) if hold else None,
        torch.tensor(hold_labels) if hold_labels else None,
    )


def write_image_folder(images: torch.Tensor, labels: torch.Tensor, names: Sequence[str], out: str | os.PathLike) -> int:
    """Save images as OUT/CLASS_NAME/NNNNN.png (an ImageFolder); returns how many were written.

    Shape:
        - images: (N, 3, H, W) in [0, 1]; labels: (N,)
    """
    out = Path(out)
    for i, (img, lab) in enumerate(zip(images, labels.tolist())):
        save_png(img, out / names[lab] / f"{i:05d}.png")
    return len(images)
