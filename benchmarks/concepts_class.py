"""Seconds per class of concept extraction + importance + maps, and classes batched vs one at a time.

    python benchmarks/concepts_class.py                       # zoo:parts and zoo:cnn, 50 images a class
    python benchmarks/concepts_class.py --models zoo:cnn --per-class 100 --rank 10 --repeats 3
    python benchmarks/concepts_class.py --models timm:resnet50 --images val/ --device cuda   # on a GPU

Prints, per model: the time of each stage for one class (extraction with its forwards and NMF,
Gradient x Input and Sobol importance, concept maps, top crops), their sum (the target: under 2 s on
a 2-core CPU), and the extraction of all classes in one `extract_many` call vs a loop of `extract`.
The last line per model estimates 1000 classes: the batched per-class extraction time plus the other
stages of one class, times 1000. MACO images of the concepts are not included (see
benchmarks/core_step.py for step times). With --images, the classes are the first --classes ones
that the model predicts for at least --per-class of the folder's images.
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
from phaselens.concepts.images import by_class, class_images, folder_images, predictions
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
    p.add_argument("--images", default=None, help="ImageFolder (needed for non-zoo models)")
    p.add_argument("--classes", type=int, default=8, help="classes of the batched comparison (default 8)")
    p.add_argument("--device", default="cpu")
    args = p.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    for spec in args.models.split(","):
        bench_model(spec, args.per_class, args.rank, args.repeats, args.images, args.classes, args.device)


def pick(model, per_class: int, images: str | None, count: int):
    """The image pool and the first `count` classes with `per_class` predicted images each."""
    if images is None:
        classes = list(range(len(model.class_names or [])))[:count]
        return (*class_images(model, classes, per_class), classes)
    pool = folder_images(model, images)
    predicted = predictions(model, pool)
    counts = torch.bincount(predicted, minlength=int(predicted.max()) + 1)
    classes = [int(c) for c in torch.nonzero(counts >= per_class).flatten()[:count]]
    if not classes:
        raise SystemExit(f"no class has {per_class} images predicted as it in {images}; lower --per-class")
    return pool, by_class(predicted, classes, per_class), classes


def bench_model(
    spec: str, per_class: int, rank: int, repeats: int, images: str | None, count: int, device: str
) -> None:
    model = load_model(spec).to(device)
    pool, picked, classes = pick(model, per_class, images, count)
    split = split_model(model)
    imgs = pool.take(picked[classes[0]]).to(device)
    on = str(model.defaults.get("concepts.on", "crops"))  # what `phaselens concepts` uses for this model
    stages = {}
    first = classes[0]
    fit = lambda: extract(model, imgs, rank=rank, on=on, class_id=first, split=split)  # noqa: E731
    stages["extract"], bank = timed(fit, repeats)
    for method in ("gradient_input", "sobol"):
        stages[method], _ = timed(lambda m=method: importance(bank, model, imgs, first, m, split=split), repeats)
    stages["maps"], _ = timed(lambda: concept_maps(bank, model, imgs, split=split), repeats)
    stages["top_crops"], _ = timed(lambda: top_crops(bank, model, imgs, split=split), repeats)
    total = sum(stages.values())
    parts = ", ".join(f"{k} {v:.2f}" for k, v in stages.items())
    print(
        f"{spec}: one class of {len(imgs)} images, rank {rank}, {on}, layer {split.layer}: {parts}; total {total:.2f} s"
    )
    batch = [pool.take(picked[c]).to(device) for c in classes]
    many, _ = timed(lambda: extract_many(model, batch, classes, rank=rank, on=on, split=split), 1)
    loop, _ = timed(
        lambda: [extract(model, b, rank=rank, on=on, class_id=c, split=split) for c, b in zip(classes, batch)], 1
    )
    print(
        f"{spec}: extraction of {len(classes)} classes batched {many:.2f} s vs one at a time {loop:.2f} s "
        f"(ratio {loop / many:.2f})"
    )
    rest = total - stages["extract"]
    per_class_s = many / len(classes) + rest
    minutes = per_class_s * 1000 / 60
    print(f"{spec}: estimate for 1000 classes on {device}: {minutes:.1f} min ({per_class_s:.2f} s a class)")


if __name__ == "__main__":
    main()
