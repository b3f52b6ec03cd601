"""How the ground-truth scores of zoo:parts depend on the settings: rows, rank and map threshold.

    python benchmarks/concepts_truth.py                                   # positions and crops, ranks 3 5 10
    python benchmarks/concepts_truth.py --on positions --ranks 10 --thresholds 0.2 0.5
    python benchmarks/concepts_truth.py --on positions --ranks 10 --seed 1     # other images: a held-out check

For every (rows, rank) it extracts each class's concepts (50 images a class, those the model predicts as
it, the images `phaselens concepts` uses), and prints for each map threshold (`metrics.binarize`): parts
recovered out of 16, classes whose defining parts rank first (relaxed / strict, `metrics.ranks_first`),
and the distractor's importance share. `phaselens concepts --model zoo:parts` uses positions, rank 10 and
`metrics.MAP_THRESHOLD`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from phaselens.concepts import split_model
from phaselens.concepts.extract import extract
from phaselens.concepts.images import class_images
from phaselens.concepts.importance import importance
from phaselens.concepts.maps import concept_maps
from phaselens.concepts.metrics import assign, part_iou, ranks_first, recovery, share_of
from phaselens.data import DISTRACTOR, PARTS_CLASS_PARTS
from phaselens.models import load_model


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--on", nargs="+", default=["positions", "crops"], choices=("positions", "crops"))
    p.add_argument("--ranks", nargs="+", type=int, default=[3, 5, 10])
    p.add_argument("--thresholds", nargs="+", type=float, default=[0.15, 0.2, 0.25, 0.3, 0.5])
    p.add_argument("--per-class", type=int, default=50)
    p.add_argument("--seed", type=int, default=0, help="image seed (0: the images of `phaselens concepts`)")
    args = p.parse_args()
    model = load_model("zoo:parts")
    split = split_model(model)
    classes = list(range(len(PARTS_CLASS_PARTS)))
    pool, picked = class_images(model, classes, args.per_class, seed=args.seed)
    assert pool.images is not None and pool.masks is not None
    print(f"zoo:parts, layer {split.layer} {split.grid}, {args.per_class} images a class, seed {args.seed}", flush=True)
    for on in args.on:
        for rank in args.ranks:
            got = {t: np.zeros(4) for t in args.thresholds}  # recovered, relaxed, strict, distractor share
            for c in classes:
                images = pool.images[picked[c]]
                masks = [pool.masks[int(i)] for i in picked[c]]
                parts = list(PARTS_CLASS_PARTS[model.class_names[c]])
                bank = extract(model, images, rank=rank, on=on, class_id=c, split=split)
                imp = importance(bank, model, images, split=split)
                maps = concept_maps(bank, model, images, split=split)
                stacked = {
                    k: torch.stack([m.get(k, torch.zeros(maps.shape[-2:], dtype=torch.bool)) for m in masks])
                    for k in sorted({k for m in masks for k in m})
                }
                for t in args.thresholds:
                    names, iou = part_iou(maps, stacked, fraction=t)
                    _, found = recovery(iou, names, parts)
                    owners = assign(iou, names)
                    first = ranks_first(imp.mean.numpy(), found, owners) if len(found) == len(parts) else (0, 0)
                    got[t] += [len(found), first[0], first[1], share_of(imp.share.numpy(), owners, DISTRACTOR)]
            for t, (rec, relaxed, strict, distractor) in got.items():
                print(
                    f"{on:9s} rank {rank:2d} threshold {t:.2f}: recovered {rec:.0f}/16, "
                    f"defining parts first {relaxed:.0f}/8 (strict {strict:.0f}/8), "
                    f"distractor share {distractor / len(classes):.3f}",
                    flush=True,
                )


if __name__ == "__main__":
    main()
