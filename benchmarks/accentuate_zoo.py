"""Feature accentuation on the zoo: accentuate class k in test images of other classes with zoo:cnn,
then ask zoo:cnn (optimized against) and zoo:vit (never seen) what they read.

    python benchmarks/accentuate_zoo.py                      # 50 images, three variants
    python benchmarks/accentuate_zoo.py --images 100 --steps 96 --reg-weight 2

Variants, at equal steps, crops and seeds:
- accentuation: the image's own spectrum plus a 1/f-preconditioned change, regularized at the last
  block before pooling (`phaselens.accentuate` defaults);
- unregularized: the same with reg_weight 0 (free ascent from the image);
- pixels: regularized, but the change is in pixels (no preconditioning).
Per variant: the share of images zoo:cnn and zoo:vit classify as k, the mean (and lowest) pixel
correlation with the original, and seconds per step. The targets of issue 19: zoo:cnn nearly all,
zoo:vit at least half, correlation >= 0.5.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import phaselens as pl
from phaselens.accentuate import accentuate
from phaselens.data import make_batch

TEST_SEED = 4242  # procedural images no zoo model was trained on


def correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    x, y = a.flatten(1) - a.flatten(1).mean(1, keepdim=True), b.flatten(1) - b.flatten(1).mean(1, keepdim=True)
    return (x * y).sum(1) / (x.norm(dim=1) * y.norm(dim=1))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--images", type=int, default=50)
    p.add_argument("--steps", type=int, default=None, help="default: accentuate's (64)")
    p.add_argument("--reg-weight", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    cnn, vit = pl.load_model("zoo:cnn"), pl.load_model("zoo:vit")
    images, labels = make_batch(args.images, 64, seed=TEST_SEED)
    gen = torch.Generator().manual_seed(args.seed)
    shift = torch.randint(1, 10, (args.images,), generator=gen)
    targets = ((labels + shift) % 10).tolist()  # another class for every image
    with torch.no_grad():
        base = (cnn(images).argmax(1) == labels).float().mean(), (vit(images).argmax(1) == labels).float().mean()
    print(f"{args.images} test images; the models read their own class on {base[0]:.0%} (cnn), {base[1]:.0%} (vit)")
    steps = {} if args.steps is None else dict(steps=args.steps)
    variants = {
        "accentuation": dict(reg_weight=args.reg_weight),
        "unregularized": dict(reg_weight=0.0),
        "pixels": dict(reg_weight=args.reg_weight, precondition=False),
    }
    wanted = torch.tensor(targets)
    for name, options in variants.items():
        start = time.perf_counter()
        result = accentuate(cnn, images, pl.logit(targets), seed=args.seed, **steps, **options)
        per_step = (time.perf_counter() - start) / result.trace.shape[0]
        with torch.no_grad():
            read_cnn = (cnn(result.images).argmax(1) == wanted).float().mean()
            read_vit = (vit(result.images).argmax(1) == wanted).float().mean()
        corr = correlation(result.images, images)
        print(
            f"{name:14s} zoo:cnn reads k {read_cnn:.0%}, zoo:vit reads k {read_vit:.0%}, "
            f"pixel correlation {corr.mean():.2f} (lowest {corr.min():.2f}), {per_step:.2f} s/step",
            flush=True,
        )


if __name__ == "__main__":
    main()
