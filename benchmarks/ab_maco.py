"""A/B of PhaseLens MACO's choices against Horama's, at the settings of benchmarks/vs_horama.py.

    python benchmarks/ab_maco.py --seeds 8                     # every variant, 8 seeds x 10 classes x 2 models
    python benchmarks/ab_maco.py --variants baseline fixed_mean_colour --seeds 8
    python benchmarks/ab_maco.py --models zoo:cnn,zoo:vit,zoo:mixer --variants no_ema --seeds 16

Variants (each changes one thing against `baseline`, today's PhaseLens MACO):
- fixed_mean_colour: no learnable mean colour (the DC bin fixes each image's mean, as before issue 20);
- slow_mean_colour: the mean colour moving at 0.05 per unit of its parameter (issue 20's first value);
- curve_magnitude: the spectrum evaluated at each bin's physical frequency at the image's size,
  instead of its 512 grid resized bilinearly with antialiasing (as Horama does);
- no_ema: the final image from the last step's parameters, not from their moving average (`ema=0`);
- before_issue_20: fixed_mean_colour, curve_magnitude and no_ema together, the MACO of round 1 (with
  today's crops);
- low_noise: noise 0.01 instead of 0.05 (PhaseLens's 0.05 on [0, 1] is about 5x Horama's in its units);
- reference_spectrum: the reference ImageNet magnitude (`--reference`) instead of the shipped fit.
Prints per variant the pooled transfer to the other zoo models (each image's share of the other
`--models` that read it as its class, whole image; Wilson 95% interval over the readings), the mean
objective on fixed crops, and the paired difference from baseline (same seeds and classes; one
value per image).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from vs_horama import CROP, MODELS, SIZE, mean_ci, wilson

import phaselens as pl
from phaselens import param as param_module
from phaselens.transfer import classify

VARIANTS = (
    "baseline",
    "fixed_mean_colour",
    "slow_mean_colour",
    "curve_magnitude",
    "no_ema",
    "before_issue_20",
    "low_noise",
    "reference_spectrum",
)


@contextlib.contextmanager
def patched(variant: str) -> Iterator[None]:
    """Today's parameterization with the variant's change, restored afterwards."""
    step, magnitude = param_module.MEAN_COLOUR_STEP, param_module.image_magnitude
    if variant in ("fixed_mean_colour", "before_issue_20"):
        param_module.MEAN_COLOUR_STEP = 0.0  # the mean colour parameter no longer acts
    if variant == "slow_mean_colour":
        param_module.MEAN_COLOUR_STEP = 0.05
    if variant in ("curve_magnitude", "before_issue_20"):
        param_module.image_magnitude = lambda spec, h, w, c=3: spec.magnitude(h, w, c)  # type: ignore[assignment]
    try:
        yield
    finally:
        param_module.MEAN_COLOUR_STEP, param_module.image_magnitude = step, magnitude  # type: ignore[assignment]


def run(variant: str, model, classes: list[int], seed: int, steps: int, reference: Path | None) -> torch.Tensor:
    options: dict = dict(steps=steps, image_size=SIZE, crops=6, crop_size=CROP, noise=0.05, seed=seed)
    if variant == "low_noise":
        options["noise"] = 0.01
    if variant in ("no_ema", "before_issue_20"):
        options["ema"] = 0.0
    if variant == "reference_spectrum":
        options["spectrum"] = str(reference)
    with patched(variant):
        return pl.visualize(model, pl.logit(classes), **options).images


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--variants",
        nargs="+",
        default=list(VARIANTS),
        choices=VARIANTS,
    )
    p.add_argument("--models", default=",".join(MODELS), help="zoo models, comma-separated (at least 2)")
    p.add_argument("--seeds", type=int, default=8)
    p.add_argument("--steps", type=int, default=256)
    p.add_argument("--reference", type=Path, default=None, help="magnitude file for reference_spectrum")
    args = p.parse_args()
    if args.reference is None:
        args.variants = [v for v in args.variants if v != "reference_spectrum"]
    models = {spec: pl.load_model(spec) for spec in args.models.split(",")}
    hits: dict[str, list[float]] = {}
    scores: dict[str, list[float]] = {}
    for variant in ["baseline", *[v for v in args.variants if v != "baseline"]]:
        hits[variant], scores[variant] = [], []
        readings = []
        for spec, model in models.items():
            others = [m for s, m in models.items() if s != spec]
            classes = list(range(len(model.class_names or [])))
            for seed in range(args.seeds):
                images = run(variant, model, classes, seed, args.steps, args.reference)
                with torch.no_grad():
                    read = torch.stack([classify(other, images) == torch.tensor(classes) for other in others]).float()
                    readings += read.flatten().tolist()
                    hits[variant] += read.mean(0).tolist()
                    scores[variant] += pl.evaluate(
                        model, pl.logit(classes), images, crops=16, seed=0, crop_size=CROP
                    ).tolist()
        h, s = np.array(hits[variant]), np.array(scores[variant])
        lo, hi = wilson(sum(readings), len(readings))
        line = f"{variant:19s} transfer {h.mean():.3f} [{lo:.2f}, {hi:.2f}], objective {mean_ci(s)}, n={len(h)}"
        if variant != "baseline":
            dh = h - np.array(hits["baseline"])
            ds = s - np.array(scores["baseline"])
            line += f"; vs baseline: transfer {mean_ci(dh)}, objective {mean_ci(ds)} (paired)"
        print(line, flush=True)


if __name__ == "__main__":
    main()
