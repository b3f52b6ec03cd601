"""How much class evidence survives MACO's constraint? Score natural images projected onto it.

A MACO image is sigmoid(recorrelate(standardize(irfft2(r * exp(i phi))))): only the phase phi
is free. Projecting a natural image onto that set (keep its own phase, impose the spectrum's
magnitude r, then the same standardize / recorrelate / sigmoid) gives the best a perfect
optimizer could reach if the class lived in the phase. Scored with the benchmark's metrics by
every zoo model, next to two controls:

- natural: the held-out images as they are (the ceiling of every score);
- contrast only: standardize + recorrelate + sigmoid of the image's own decorrelated logits,
  i.e. MACO's fixed contrast without replacing the magnitude;
- maco(SPECTRUM): the projection, for each spectrum given.

Usage: python benchmarks/bench_maco_ceiling.py [--spectra default,FILE.npy,...] [--per-class 50]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from phaselens.bench.data import procedural_reference
from phaselens.bench.features import features
from phaselens.bench.metrics import fid, plausibility, transferability
from phaselens.bench.run import prepare_evaluators
from phaselens.color import COLOR_MATRIX, recorrelate
from phaselens.data import CLASS_NAMES
from phaselens.models import load_model
from phaselens.param import _standardize, symmetrize_magnitude
from phaselens.spectrum import load_spectrum
from phaselens.transfer import classify

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "imagenet_magnitude_spectrum.npy"


def decorrelated_logits(x: torch.Tensor) -> torch.Tensor:
    """[0, 1] RGB -> the decorrelated pre-sigmoid space MACO optimizes in. Shape: (B, 3, H, W) both."""
    y = torch.logit(x.clamp(1e-3, 1 - 1e-3))
    return torch.einsum("ij,bjhw->bihw", torch.linalg.inv(COLOR_MATRIX), y)


def contrast_only(x: torch.Tensor) -> torch.Tensor:
    return torch.sigmoid(recorrelate(_standardize(decorrelated_logits(x))))


def maco_projection(x: torch.Tensor, spectrum) -> torch.Tensor:
    """Keep each image's phase, impose the spectrum's magnitude, then MACO's output path."""
    _, c, h, w = x.shape
    phase = torch.angle(torch.fft.rfft2(decorrelated_logits(x)))
    mag = symmetrize_magnitude(load_spectrum(spectrum).magnitude(h, w, c), w)
    return torch.sigmoid(
        recorrelate(_standardize(torch.fft.irfft2(torch.polar(mag.expand_as(phase), phase), s=(h, w))))
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_spectra = ["default"] + ([str(REFERENCE)] if REFERENCE.is_file() else [])
    p.add_argument("--spectra", default=",".join(default_spectra), help="comma-separated: default or .npy/.json files")
    p.add_argument("--per-class", type=int, default=50)
    p.add_argument("--seeds", type=int, default=3, help="held-out images per class to project")
    args = p.parse_args()
    models = {s: load_model(s) for s in ("zoo:cnn", "zoo:vit", "zoo:mixer")}
    ref = procedural_reference(args.per_class, 64, args.seeds)
    evs = prepare_evaluators(models, ref, 8)
    x, y = ref.holdout, ref.holdout_labels
    sets = {"natural": x, "contrast only": contrast_only(x)}
    for s in args.spectra.split(","):
        sets[f"maco({Path(s).name})"] = maco_projection(x, None if s == "default" else s)
    print("| images | plausibility | margin | rank acc | FID | top-1 |")
    print("|---|---|---|---|---|---|")
    per_class = {}
    for name, imgs in sets.items():
        imgs = (imgs * 255).round() / 255
        rows = []
        hits = torch.zeros(10)
        for ev in evs.values():
            hits += torch.zeros(10).index_add_(0, y, (classify(ev.model, imgs) == y).float())
            feats = features(ev.model, imgs)
            pl = plausibility(feats, y, ev.natural, ref.labels, 10)
            rows.append(
                [
                    pl["plausibility"],
                    pl["margin"],
                    pl["rank_accuracy"],
                    fid(feats, ev.natural, ev.basis),
                    transferability(classify(ev.model, imgs), y),
                ]
            )
        per_class[name] = (hits / (len(evs) * torch.bincount(y, minlength=10))).tolist()
        mean = torch.tensor(rows).mean(0).tolist()
        print(f"| {name} | " + " | ".join(f"{v:.3f}" if i < 2 else f"{v:.2f}" for i, v in enumerate(mean)) + " |")
    print("\nTop-1 per class (mean over the three evaluators):\n")
    print("| images | " + " | ".join(CLASS_NAMES) + " |")
    print("|---|" + "---|" * len(CLASS_NAMES))
    for name, accs in per_class.items():
        print(f"| {name} | " + " | ".join(f"{a:.2f}" for a in accs) + " |")


if __name__ == "__main__":
    main()
