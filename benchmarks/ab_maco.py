"""A/B of deviations between PhaseLens's MACO and Horama's, at the settings of benchmarks/vs_horama.py.

    python benchmarks/ab_maco.py --seeds 5                     # every variant, 5 seeds x 10 classes x 2 models
    python benchmarks/ab_maco.py --variants baseline mean_colour --seeds 8

Variants (each changes one thing against `baseline`, today's PhaseLens MACO):
- mean_colour: a learnable mean colour, a per-image, per-channel offset added after standardization
  (the DC bin stays fixed, so the magnitude stays exact; Horama instead lets the DC phase move);
- low_noise: noise 0.01 instead of 0.05 (PhaseLens's 0.05 on [0, 1] is about 5x Horama's in its units);
- reference_spectrum: the reference ImageNet magnitude (`--reference`) instead of the shipped one;
- resized_reference: the reference magnitude resized bilinearly (antialiased) from its 512 grid to the
  image's, as Horama does, instead of PhaseLens's curve at the same physical frequency.
Prints per variant the pooled transfer to the other zoo model (whole image, Wilson 95% interval), the
mean objective on fixed crops, and the paired difference from baseline (same seeds and classes).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from vs_horama import CROP, MODELS, SIZE, mean_ci, wilson

import phaselens as pl
from phaselens import param as param_module
from phaselens.transfer import classify

OFFSET_SCALE = 0.05  # the offset moves ~0.05 std per NAdam step of lr 1


class ResizedSpectrum:
    """Horama's magnitude at any size: the 512 grid resized bilinearly, antialiased."""

    def __init__(self, path: Path) -> None:
        self.grid = torch.tensor(np.load(path), dtype=torch.float32)

    def magnitude(self, height: int, width: int, channels: int = 3) -> torch.Tensor:
        size = (height, width // 2 + 1)
        out = nn.functional.interpolate(self.grid[None], size=size, mode="bilinear", antialias=True)[0]
        return out[:channels]


class MeanColourMaco(param_module.MacoParam):
    def __init__(self, magnitude: torch.Tensor, phase: torch.Tensor, width: int) -> None:
        super().__init__(magnitude, phase, width)
        self.offset = nn.Parameter(torch.zeros(phase.shape[0], phase.shape[1], 1, 1, device=phase.device))

    def decorrelated(self) -> torch.Tensor:
        return super().decorrelated() + OFFSET_SCALE * self.offset


def run(variant: str, model, classes: list[int], seed: int, steps: int, reference: Path | None) -> torch.Tensor:
    options: dict = dict(steps=steps, image_size=SIZE, crops=6, crop_size=CROP, noise=0.05, seed=seed)
    if variant == "low_noise":
        options["noise"] = 0.01
    if variant == "reference_spectrum":
        options["spectrum"] = str(reference)
    original, loader = param_module.MacoParam, param_module.load_spectrum
    if variant == "mean_colour":
        param_module.MacoParam = MeanColourMaco  # type: ignore[misc]
    if variant == "resized_reference":
        resized = ResizedSpectrum(reference) if reference else None
        param_module.load_spectrum = lambda _spec: resized  # type: ignore[assignment]
    try:
        return pl.visualize(model, pl.logit(classes), **options).images
    finally:
        param_module.MacoParam, param_module.load_spectrum = original, loader  # type: ignore[misc]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--variants",
        nargs="+",
        default=["baseline", "mean_colour", "low_noise", "reference_spectrum", "resized_reference"],
    )
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--steps", type=int, default=256)
    p.add_argument("--reference", type=Path, default=None, help="magnitude file for reference_spectrum")
    args = p.parse_args()
    if args.reference is None:
        args.variants = [v for v in args.variants if v not in ("reference_spectrum", "resized_reference")]
    models = {spec: pl.load_model(spec) for spec in MODELS}
    hits: dict[str, list[float]] = {}
    scores: dict[str, list[float]] = {}
    for variant in ["baseline", *[v for v in args.variants if v != "baseline"]]:
        hits[variant], scores[variant] = [], []
        for spec, model in models.items():
            other = models[next(s for s in MODELS if s != spec)]
            classes = list(range(len(model.class_names or [])))
            for seed in range(args.seeds):
                images = run(variant, model, classes, seed, args.steps, args.reference)
                with torch.no_grad():
                    hits[variant] += (classify(other, images) == torch.tensor(classes)).float().tolist()
                    scores[variant] += pl.evaluate(
                        model, pl.logit(classes), images, crops=16, seed=0, crop_size=CROP
                    ).tolist()
        h, s = np.array(hits[variant]), np.array(scores[variant])
        lo, hi = wilson(h.sum(), len(h))
        line = f"{variant:19s} transfer {h.mean():.3f} [{lo:.2f}, {hi:.2f}], objective {mean_ci(s)}, n={len(h)}"
        if variant != "baseline":
            dh = h - np.array(hits["baseline"])
            ds = s - np.array(scores["baseline"])
            line += f"; vs baseline: transfer {mean_ci(dh)}, objective {mean_ci(ds)} (paired)"
        print(line, flush=True)


if __name__ == "__main__":
    main()
