"""The images a class's concepts are extracted from: those the model predicts as the class.

For the embedded zoo the images are the model's own procedural data, drawn fresh (a seed no model
was trained on); `zoo:parts` images carry the masks of their parts, the ground truth of concept
extraction. Any model can take an ImageFolder-style folder instead. As in the Lens site, the images
of a class are the ones the model *predicts* as that class, whatever their folder says.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from ..data import ProceduralParts, make_batch
from ..errors import PhaseLensError
from ..imagefiles import list_images, load_image
from ..model import ImageModel, frozen, model_device_dtype

DATA_SEED = 9000  # procedural images for concepts: a seed the zoo was not trained or tested on
POOL_FACTOR = 1.5  # procedural images drawn per image wanted, for classes the model misreads


@dataclass
class ImageSet:
    """Candidate images for concept extraction.

    Procedural images are held in memory; the images of a folder are read when taken (`take`), so
    1000 classes × 50 images are never in memory at once.

    Attributes:
        images: (M, C, H, W) in [0, 1] on the CPU at the model's input size, or None for files.
        names: one label per image (its file or item), for pages and manifests.
        masks: per image, part name -> (H, W) bool mask (parts data only), else None.
        source: where the images come from (``procedural:parts``, a folder path).
        files: the image files (folders only). size, channels: how files are read.
    """

    images: torch.Tensor | None
    names: list[str]
    masks: list[dict[str, torch.Tensor]] | None
    source: str
    files: list[Path] | None = None
    size: tuple[int, int] = (0, 0)
    channels: int = 3

    def __len__(self) -> int:
        return len(self.names)

    def take(self, indices: torch.Tensor | Sequence[int]) -> torch.Tensor:
        """The images at `indices`, stacked: (n, C, H, W)."""
        idx = [int(i) for i in indices]
        if self.images is not None:
            return self.images[idx]
        assert self.files is not None
        return torch.stack([load_image(self.files[i], self.size, self.channels) for i in idx])


def zoo_kind(model: ImageModel) -> str | None:
    """``parts``, ``shapes`` or None: which procedural data a zoo model was trained on."""
    if not model.name.startswith("zoo:"):
        return None
    return "parts" if model.name == "zoo:parts" else "shapes"


def procedural_images(model: ImageModel, count: int, seed: int = 0) -> ImageSet:
    """`count` fresh items of the zoo model's own procedural data (with part masks for zoo:parts)."""
    kind = zoo_kind(model)
    if kind is None:
        raise PhaseLensError(
            f"{model.name} is not a zoo model, so it has no procedural images; give --images DIR (ImageFolder)"
        )
    side = model.input_size[0]
    if kind == "parts":
        ds = ProceduralParts(count, side, DATA_SEED + seed, return_masks=True)
        items = [ds[i] for i in range(count)]
        images = torch.stack([it[0] for it in items])
        masks = [{k: v.bool() for k, v in it[2].items()} for it in items]  # type: ignore[misc]
        return ImageSet(images, [f"parts#{i}" for i in range(count)], masks, "procedural:parts")
    images, _labels = make_batch(count, side, DATA_SEED + seed)
    return ImageSet(images, [f"shapes#{i}" for i in range(count)], None, "procedural:shapes")


def folder_images(model: ImageModel, root: str | Path) -> ImageSet:
    """The images of an ImageFolder-style folder (``ROOT/CLASS/*.jpg``), read at the model's input size
    when taken."""
    files = [p for p, _ in list_images(root)]
    names = [str(p.relative_to(Path(root))) for p in files]
    return ImageSet(None, names, None, str(Path(root)), files, model.input_size, model.channels)


def predictions(model: ImageModel, pool: ImageSet, batch: int = 256) -> torch.Tensor:
    """The model's predicted class of every image of `pool`: (M,) on the CPU (images read in batches)."""
    device, dtype = model_device_dtype(model)
    out = []
    with frozen(model), torch.no_grad():
        for i in range(0, len(pool), batch):
            x = pool.take(range(i, min(i + batch, len(pool))))
            out.append(model(x.to(device, dtype)).argmax(dim=1).cpu())
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


def by_class(
    predicted: torch.Tensor, classes: Sequence[int], per_class: int, min_images: int = 1
) -> dict[int, torch.Tensor]:
    """Indices of the first `per_class` images predicted as each class.

    Raises:
        PhaseLensError: a class with fewer than `min_images` images (naming it and the count).
    """
    picked = {}
    for c in classes:
        idx = torch.nonzero(predicted == c).flatten()[:per_class]
        if len(idx) < min_images:
            raise PhaseLensError(
                f"class {c}: only {len(idx)} of the images are predicted as it, at least {min_images} needed; "
                "give more images (--images) or fewer concepts (--rank)"
            )
        picked[c] = idx
    return picked


def class_images(
    model: ImageModel,
    classes: Sequence[int],
    per_class: int,
    images: str | Path | None = None,
    seed: int = 0,
    min_images: int = 1,
) -> tuple[ImageSet, dict[int, torch.Tensor]]:
    """Candidate images and, per class, the indices of those the model predicts as it."""
    if per_class < 1:
        raise PhaseLensError(f"per_class must be >= 1, got {per_class}")
    if images is None:
        # Procedural labels cycle over every class of the model, so the pool covers all of them.
        total = len(model.class_names or []) or (max(classes) + 1 if classes else 1)
        count = int(per_class * total * POOL_FACTOR)
        pool = procedural_images(model, count, seed)
    else:
        pool = folder_images(model, images)
    return pool, by_class(predictions(model, pool), classes, per_class, min_images)
