"""Random crops and noise, vectorised over B images x K crops.

Every step, each image is seen through K square crops with random centres
(normal around the image centre; the centre stays on the image, the crop may hang
over its edge, where the image is mirrored) and random sizes (uniform between two
fractions of the shorter side), resized to the model's input size in one
`grid_sample` call, then noised.

Why crops may hang over the edge: kept wholly inside, a crop of 80-100 % of the image
can hardly move, so the image is optimized for one framing only. Let to move (as in
Horama, the MACO authors' code), the images transfer better to other models:
+0.100 +- 0.078 on the zoo at 64 px and crops of 0.8-1.0 (docs/benchmark.md, issue 20).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .errors import PhaseLensError
from .rng import SeedGroups

MAX_STD = 10.0  # noise and centre spread, in units of the image: beyond this a crop is noise or off the image


@dataclass(frozen=True)
class CropConfig:
    """How crops are drawn.

    Attributes:
        crops: K, crops per image per step.
        size: (min, max) crop side as a fraction of the image's shorter side, uniform.
        center_std: std of the crop centre around the image centre, in fractions of each side.
        noise: std of the Gaussian noise added to the crops, in [0, 1] pixel units.
    """

    crops: int = 6
    size: tuple[float, float] = (0.20, 0.30)
    center_std: float = 0.15
    noise: float = 0.05

    def __post_init__(self) -> None:
        lo, hi = self.size
        if not 0 < lo <= hi <= 1:  # also false for NaN
            raise PhaseLensError(f"crop size must satisfy 0 < min <= max <= 1, got {self.size}")
        if isinstance(self.crops, bool) or not isinstance(self.crops, int) or self.crops < 1:
            raise PhaseLensError(f"crops per image must be an integer >= 1, got {self.crops!r}")
        for name, value in (("crop centre std", self.center_std), ("noise", self.noise)):
            if not (math.isfinite(value) and 0 <= value <= MAX_STD):
                raise PhaseLensError(f"{name} must be a number in 0..{MAX_STD:g}, got {value!r}")


def sample_boxes(rng: SeedGroups, cfg: CropConfig, image_size: tuple[int, int]) -> torch.Tensor:
    """Draw K crop boxes per image.

    Returns:
        (B, K, 3): centre x, centre y (fractions of width and height, within [0, 1])
        and side (fraction of the shorter side). The part of a crop beyond the image's
        edge is read mirrored by `crop_resize`.
    """
    del image_size  # centres and sides are fractions of the image: its size no longer enters
    k = cfg.crops
    lo, hi = cfg.size
    side = lo + (hi - lo) * rng.rand((k,))
    cx = (0.5 + cfg.center_std * rng.randn((k,))).clamp(0.0, 1.0)
    cy = (0.5 + cfg.center_std * rng.randn((k,))).clamp(0.0, 1.0)
    return torch.stack([cx, cy, side], dim=-1)


def crop_resize(
    images: torch.Tensor, boxes: torch.Tensor, out_size: tuple[int, int], max_side: float | None = None
) -> torch.Tensor:
    """Cut every box out of its image and resize it, antialiased, in one `grid_sample`.

    Downscaling supersamples (s x s samples averaged per output pixel, s from the
    largest shrink factor), so small output sizes do not alias. `max_side`, the
    largest box side the boxes may have (fraction of the shorter image side), fixes
    s in advance; without it s comes from the drawn boxes, which makes the host
    wait for the GPU and lets one image's crops depend on its batch-mates'.

    Shape:
        - images: (B, C, H, W)
        - boxes: (B, K, 3) as returned by `sample_boxes`
        - output: (B * K, C, h, w), image-major (crops of image 0 first)
    """
    b, c, h, w = images.shape
    k = boxes.shape[1]
    oh, ow = out_size
    side_px = boxes[..., 2] * min(h, w)
    largest = max_side * min(h, w) if max_side is not None else float(side_px.max())
    shrink = largest / min(oh, ow)
    ss = max(1, math.ceil(shrink - 1e-6))
    sh, sw = oh * ss, ow * ss
    # Sample positions in [-1, 1] (align_corners=False): pixel centres of each crop.
    ys = (torch.arange(sh, device=images.device, dtype=images.dtype) + 0.5) / sh * 2 - 1
    xs = (torch.arange(sw, device=images.device, dtype=images.dtype) + 0.5) / sw * 2 - 1
    half_x = (side_px / w).to(images.dtype)  # half-width in grid units (grid spans 2)
    half_y = (side_px / h).to(images.dtype)
    cx = (boxes[..., 0] * 2 - 1).to(images.dtype)
    cy = (boxes[..., 1] * 2 - 1).to(images.dtype)
    gx = cx[..., None, None] + half_x[..., None, None] * xs.view(1, 1, 1, sw)
    gy = cy[..., None, None] + half_y[..., None, None] * ys.view(1, 1, sh, 1)
    grid = torch.stack(torch.broadcast_tensors(gx, gy), dim=-1)  # (B, K, sh, sw, 2)
    # The K crops are stacked vertically so the B images are read without copies.
    out = F.grid_sample(
        images, grid.reshape(b, k * sh, sw, 2), mode="bilinear", padding_mode="reflection", align_corners=False
    )
    out = out.view(b, c, k, sh, sw).transpose(1, 2).reshape(b * k, c, sh, sw)
    if ss > 1:
        out = F.avg_pool2d(out, ss)
    return out


def augment(images: torch.Tensor, rng: SeedGroups, cfg: CropConfig, out_size: tuple[int, int]) -> torch.Tensor:
    """Random crops (resized to `out_size`) plus Gaussian noise. Output (B * K, C, h, w)."""
    boxes = sample_boxes(rng, cfg, (images.shape[-2], images.shape[-1]))
    crops = crop_resize(images, boxes, out_size, max_side=cfg.size[1])
    if cfg.noise > 0:
        b, k = boxes.shape[:2]
        noise = rng.randn((k, images.shape[1], *out_size)).to(crops.dtype)
        crops = crops + cfg.noise * noise.reshape(b * k, images.shape[1], *out_size)
    return crops
