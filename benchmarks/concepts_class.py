"""Seconds per class of concept extraction + importance + maps, and classes batched vs one at a time.

    python benchmarks/concepts_class.py                       # zoo:parts and zoo:cnn, 50 images a class
    python benchmarks/concepts_class.py --models zoo:cnn --per-class 100 --rank 10 --repeats 3

Prints, per model: the time of each stage for one class (extraction with its forwards and NMF,
Gradient x Input and Sobol importance, concept maps, top crops), their sum (the target: under 2 s on
a 2-core CPU), and the extraction of all classes in one `extract_many` call vs a loop of `extract`.
MACO images of the concepts are not included (see benchmarks/core_step.py for step times).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from phaselens.concepts import split_model
from phaselens.concepts.extract import extract, extract_many
from phaselens.concepts.images import class_images
from phaselens.concepts.importance import importance
from phaselens.concepts.maps import concept_maps, top_crops
from phaselens.models import load_model


def timed(fn, repeats: int):
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="zoo:parts,zoo:cnn")
    p.add_argument("--per-class", type=int, default=50)
    p.add_argument("--rank", type=int, default=10)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    for spec in args.models.split(","):
        bench_model(spec, args.per_class, args.rank, args.repeats)


def bench_model(spec: str, per_class: int, rank: int, repeats: int) -> None:
    model = load_model(spec)
    classes = list(range(len(model.class_names or [])))
    pool, picked = class_images(model, classes, per_class)
    split = split_model(model)
    imgs = pool.take(picked[0])
    on = str(model.defaults.get("concepts.on", "crops"))  # what `phaselens concepts` uses for this model
    stages = {}
    stages["extract"], bank = timed(lambda: extract(model, imgs, rank=rank, on=on, class_id=0, split=split), repeats)
    for method in ("gradient_input", "sobol"):
        stages[method], _ = timed(lambda m=method: importance(bank, model, imgs, 0, m, split=split), repeats)
    stages["maps"], _ = timed(lambda: concept_maps(bank, model, imgs, split=split), repeats)
    stages["top_crops"], _ = timed(lambda: top_crops(bank, model, imgs, split=split), repeats)
    total = sum(stages.values())
    parts = ", ".join(f"{k} {v:.2f}" for k, v in stages.items())
    print(
        f"{spec}: one class of {len(imgs)} images, rank {rank}, {on}, layer {split.layer}: {parts}; total {total:.2f} s"
    )
    batch = [pool.take(picked[c]) for c in classes]
    many, _ = timed(lambda: extract_many(model, batch, classes, rank=rank, on=on, split=split), 1)
    loop, _ = timed(
        lambda: [extract(model, b, rank=rank, on=on, class_id=c, split=split) for c, b in zip(classes, batch)], 1
    )
    print(
        f"{spec}: extraction of {len(classes)} classes batched {many:.2f} s vs one at a time {loop:.2f} s "
        f"(ratio {loop / many:.2f})"
    )


if __name__ == "__main__":
    main()
