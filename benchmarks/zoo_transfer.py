"""Transferability on the zoo over several seeds: the demo's measurement, with more images.

For each seed, every class of each model is visualized (MACO, the demo's settings: 256 steps,
crops 0.5-0.9) and classified by every model, in the whole view and in the centre view at the
optimization's scale. Prints counts out of 10 x seeds per (visualized model, evaluator, view).

    python benchmarks/zoo_transfer.py                          # zoo:cnn and zoo:vit, seeds 1 and 2
    python benchmarks/zoo_transfer.py --seeds 1,2,3,4 --models zoo:cnn,zoo:vit,zoo:mixer
    python benchmarks/zoo_transfer.py --weights /tmp/new_zoo   # zoo weights from another folder
    python benchmarks/zoo_transfer.py --seeds 1,2,3,4,5,6,7,8 --ema 0   # the last step's images
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import phaselens as pl
from phaselens import zoo
from phaselens.data import CLASS_NAMES
from phaselens.transfer import classify, optimization_view


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default="zoo:cnn,zoo:vit")
    p.add_argument("--seeds", default="1,2")
    p.add_argument("--steps", type=int, default=256)
    p.add_argument("--crop-size", default="0.5,0.9")
    p.add_argument("--ema", type=float, default=pl.RunConfig().ema, help="RunConfig.ema (0: the last step's images)")
    p.add_argument("--weights", type=Path, default=None, help="folder of NAME.safetensors (default: shipped)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--confusions", action="store_true", help="print each evaluator's predictions")
    args = p.parse_args()

    torch.set_num_threads(args.threads)
    names = [s.strip().removeprefix("zoo:") for s in args.models.split(",")]
    models = {n: zoo.load(n, weights_dir=args.weights) for n in names}
    seeds = [int(s) for s in args.seeds.split(",")]
    crop = tuple(float(v) for v in args.crop_size.split(","))
    views = (1.0, optimization_view(crop))
    counts: dict[tuple[str, str, float], int] = {}
    start = time.time()
    for seed in seeds:
        for a, model in models.items():
            images = pl.visualize(
                model, list(range(10)), steps=args.steps, crop_size=crop, seed=seed, ema=args.ema
            ).images
            for b, evaluator in models.items():
                for view in views:
                    preds = classify(evaluator, images, view=view)
                    key = (a, b, view)
                    counts[key] = counts.get(key, 0) + int((preds == torch.arange(10)).sum())
                    if args.confusions and a != b:
                        print(f"seed {seed} {a}->{b} view {view}: " + " ".join(CLASS_NAMES[i] for i in preds))
    total = 10 * len(seeds)
    print(
        f"MACO, {args.steps} steps, crops {crop[0]}-{crop[1]}, ema {args.ema:g}, seeds {seeds}, weights "
        f"{args.weights or 'shipped'} ({time.time() - start:.0f} s)"
    )
    print(f"| visualized | evaluator | whole image | centre {views[1]:.0%} |")
    print("|---|---|---|---|")
    for a in names:
        for b in names:
            print(
                f"| {a} | {b}{' (self)' if a == b else ''} | {counts[(a, b, 1.0)]}/{total} | "
                f"{counts[(a, b, views[1])]}/{total} |"
            )


if __name__ == "__main__":
    main()
