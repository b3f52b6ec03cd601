"""Train (or evaluate) the zoo models on procedurally generated images.

Usage::

    python -m phaselens.zoo.train --model all --out phaselens/zoo/weights/
    python -m phaselens.zoo.train --model cnn --out phaselens/zoo/weights/
    python -m phaselens.zoo.train --model parts --out phaselens/zoo/weights/
    python -m phaselens.zoo.train --eval-only            # the shipped weights

Everything runs on CPU with one thread and fixed seeds, so a run reproduces the
shipped weights. The training images (``ProceduralShapes`` seed 1) are drawn
once, with objects over a wider size range than the dataset's default
(`TRAIN_SCALE`), kept in memory as uint8, and shared by all models of one run;
each epoch shuffles them and augments them (`phaselens.zoo.augment`: flips,
contrast, blur, noise, amplitude-phase recombination). Validation uses seed 2
and the reported test accuracy seed 3, both at the default object size; neither
is ever trained on. The ``parts`` model trains the same way on `ProceduralParts`
(same seeds, no wider sizes; its report adds the distractor and part-erasure
checks of `phaselens.zoo.parts_report`).

The module is a little longer than 300 lines: the recipes, the data, the loop
and the saved metadata that together reproduce the shipped weights sit in one
file, so a change to one is seen next to the others.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from ..data import (
    CLASS_NAMES,
    DEFAULT_SCALE,
    NUM_CLASSES,
    NUM_PARTS_CLASSES,
    make_batch,
    make_parts_batch,
    sample,
    sample_parts,
)
from . import INPUT_SIZE, NAMES, build, class_names, load
from .augment import flips, train_augment
from .parts_report import format_report, parts_report

TRAIN_SEED = 1
VAL_SEED = 2
TEST_SEED = 3
# Objects from 0.2 (a third of the smallest default object) to the default's largest: the
# models then recognize a class at the sizes a visualization draws it, not at one size only.
TRAIN_SCALE = (0.2, 0.65)


@dataclass(frozen=True)
class Recipe:
    """Optimization settings of one zoo model."""

    epochs: int
    lr: float
    weight_decay: float = 0.05
    batch_size: int = 128
    warmup_frac: float = 0.05
    label_smoothing: float = 0.05
    clip_grad: float | None = 1.0
    swap_p: float = 0.5  # probability of amplitude-phase recombination per image
    plain_epochs: int = 0  # first epochs with flips only: patch models learn the classes before the nuisances
    n_train: int = 40000  # training images (items 0..n-1 of the training seed)
    # L1 penalty on the mean activation of one layer (``activity_layer``): a sparse, silent background there
    activity_l1: float = 0.0
    activity_layer: str = ""


# One recipe per zoo model (`nets.ARCHITECTURES`, in `NAMES`); tests/test_zoo.py checks they match.
RECIPES: dict[str, Recipe] = {
    "cnn": Recipe(epochs=6, lr=3e-3, weight_decay=5e-4, clip_grad=None),
    "vit": Recipe(epochs=16, lr=2e-3, plain_epochs=7),
    "mixer": Recipe(epochs=10, lr=2e-3, plain_epochs=4),
    # Two plain epochs first: on the full augmentation from the start, the parts model stayed at chance
    # (0.17 after 3 epochs of 8,000 images); with flips only it reached 0.99 after 5 epochs of 16,000.
    # The L1 penalty on layer3 keeps the background silent there, so a part's concept is the part alone.
    "parts": Recipe(
        epochs=8,
        lr=3e-3,
        weight_decay=5e-4,
        clip_grad=None,
        plain_epochs=2,
        n_train=32000,
        activity_l1=0.1,
        activity_layer="layer3",
    ),
}
PARTS_MODELS = ("parts",)  # trained on ProceduralParts; the others on ProceduralShapes


def generate_uint8(
    n: int,
    size: int,
    seed: int,
    scale: tuple[float, float] = DEFAULT_SCALE,
    log_every: int = 10000,
    parts: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Items 0..n-1 of ``ProceduralShapes(n, size, seed, scale)`` (or ``ProceduralParts``) quantized to uint8.

    Shape:
        - images: (n, 3, size, size) uint8; labels: (n,) int64.
    """
    images = np.empty((n, 3, size, size), dtype=np.uint8)
    t0 = time.time()
    for i in range(n):
        img = sample_parts(seed, i, size)[0] if parts else sample(seed, i, size, scale)[0]
        images[i] = np.rint(img * 255.0)
        if log_every and (i + 1) % log_every == 0:
            print(f"  generated {i + 1}/{n} images ({time.time() - t0:.0f}s)", flush=True)
    labels = torch.arange(n, dtype=torch.int64) % (NUM_PARTS_CLASSES if parts else NUM_CLASSES)
    return torch.from_numpy(images), labels


def channel_stats(images_u8: torch.Tensor, n: int = 5000) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of [0, 1] pixels, rounded to 3 decimals."""
    x = images_u8[:n].float() / 255.0
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3))
    return tuple(round(float(m), 3) for m in mean), tuple(round(float(s), 3) for s in std)


@torch.no_grad()
def accuracy(net: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 500) -> tuple[float, torch.Tensor]:
    """Top-1 accuracy of ``net`` on (already normalized) ``x``, and per-class accuracy.

    Shape:
        - x: (N, 3, H, W); y: (N,); per-class output: (number of classes,).
    """
    was_training = net.training
    net.eval()
    logits = [net(x[i : i + batch_size]) for i in range(0, len(x), batch_size)]
    preds = torch.cat([z.argmax(1) for z in logits])
    net.train(was_training)
    correct = (preds == y).float()
    k = logits[0].shape[1]
    per_class = torch.zeros(k).index_add_(0, y, correct) / torch.bincount(y, minlength=k)
    return float(correct.mean()), per_class


def train_one(
    name: str,
    train_u8: torch.Tensor,
    train_y: torch.Tensor,
    val_x: torch.Tensor,
    val_y: torch.Tensor,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    seed: int = 0,
    epochs: int | None = None,
) -> nn.Module:
    """Train zoo architecture ``name`` from a fixed seed; returns the net in eval mode."""
    recipe = RECIPES[name]
    epochs = recipe.epochs if epochs is None else epochs
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    net = build(name)
    m = torch.tensor(mean).view(1, 3, 1, 1)
    s = torch.tensor(std).view(1, 3, 1, 1)
    decay = [p for n_, p in net.named_parameters() if p.ndim > 1 and "pos_embed" not in n_ and "cls_token" not in n_]
    no_decay = [
        p for n_, p in net.named_parameters() if not (p.ndim > 1 and "pos_embed" not in n_ and "cls_token" not in n_)
    ]
    opt = torch.optim.AdamW(
        [{"params": decay, "weight_decay": recipe.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=recipe.lr,
        betas=(0.9, 0.99),
    )
    n = len(train_u8)
    steps_per_epoch = n // recipe.batch_size
    total = steps_per_epoch * epochs
    warmup = max(1, int(recipe.warmup_frac * total))

    def lr_at(step: int) -> float:
        if step < warmup:
            return recipe.lr * (step + 1) / warmup
        t = (step - warmup) / max(1, total - warmup)
        return recipe.lr * 0.5 * (1.0 + math.cos(math.pi * t))

    loss_fn = nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing)
    seen: list[torch.Tensor] = []  # the activity layer's output in the last training forward

    def keep(mod: nn.Module, _i: object, out: torch.Tensor) -> None:
        if mod.training:
            seen[:] = [out]

    if recipe.activity_l1:
        net.get_submodule(recipe.activity_layer).register_forward_hook(keep)
    n_params = sum(p.numel() for p in net.parameters())
    print(f"[{name}] {n_params} parameters, {epochs} epochs x {steps_per_epoch} steps, recipe {recipe}", flush=True)
    t0 = time.time()
    step = 0
    net.train()
    for epoch in range(epochs):
        order = torch.randperm(n, generator=gen)
        running = 0.0
        for b in range(steps_per_epoch):
            idx = order[b * recipe.batch_size : (b + 1) * recipe.batch_size]
            x = train_u8[idx].float().div_(255.0)
            x = flips(x, gen) if epoch < recipe.plain_epochs else train_augment(x, gen, recipe.swap_p)
            x = (x - m) / s
            for group in opt.param_groups:
                group["lr"] = lr_at(step)
            loss = loss_fn(net(x), train_y[idx])
            if seen:
                loss = loss + recipe.activity_l1 * seen.pop().mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if recipe.clip_grad:
                nn.utils.clip_grad_norm_(net.parameters(), recipe.clip_grad)
            opt.step()
            running += float(loss.detach())
            step += 1
        acc, _ = accuracy(net, val_x, val_y)
        print(
            f"[{name}] epoch {epoch + 1}/{epochs} loss {running / steps_per_epoch:.4f} "
            f"val acc {acc:.4f} ({time.time() - t0:.0f}s)",
            flush=True,
        )
    return net.eval()


def save(net: nn.Module, name: str, out_dir: Path, mean, std, meta_extra: dict[str, str]) -> Path:
    """Write ``out_dir/NAME.safetensors`` (float32) with the metadata `zoo.load` reads."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{name}.safetensors"
    state = {k: v.detach().contiguous().clone() for k, v in net.state_dict().items()}
    config = _config_of(net, name)
    metadata = {
        "phaselens.arch": name,
        "phaselens.config": json.dumps(config),
        "phaselens.mean": json.dumps(list(mean)),
        "phaselens.std": json.dumps(list(std)),
        "phaselens.input_size": str(INPUT_SIZE),
        "phaselens.class_names": json.dumps(list(class_names(name))),
        **meta_extra,
    }
    save_file(state, str(path), metadata=metadata)
    return path


def _config_of(net: nn.Module, name: str) -> dict:
    # The shipped nets use the architecture defaults; record them explicitly so
    # that changing a default later cannot silently break loading.
    sig = inspect.signature(type(net).__init__)
    cfg = {k: p.default for k, p in sig.parameters.items() if k not in ("self", "num_classes")}
    return {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()}


def evaluate(
    names: list[str], n: int, seed: int, weights_dir: Path | None, scale: tuple[float, float] = DEFAULT_SCALE
) -> dict[str, float]:
    """Accuracy of the saved zoo models on ``n`` fresh images of ``seed`` (objects of size ``scale``).

    A parts model is scored on parts images (`parts_report`) whatever ``scale``.
    """
    shapes: tuple[torch.Tensor, torch.Tensor] | None = None  # drawn for the first shapes model
    results = {}
    for name in names:
        model = load(name, weights_dir=weights_dir)
        if name in PARTS_MODELS:
            report = parts_report(model, n, seed, INPUT_SIZE)
            print(format_report(name, report), flush=True)
            results[name] = float(report["accuracy"])  # type: ignore[arg-type]
            continue
        shapes = shapes or make_batch(n, INPUT_SIZE, seed, scale)
        acc, per_class = accuracy(model, *shapes)  # ImageModel normalizes [0, 1] input itself
        results[name] = acc
        worst = int(per_class.argmin())
        print(
            f"{name:6s} test acc {acc:.4f} on {n} images (seed {seed}, object scale {scale[0]}-{scale[1]}); "
            f"worst class {CLASS_NAMES[worst]} {float(per_class[worst]):.3f}",
            flush=True,
        )
        print(
            "       per class: " + ", ".join(f"{c} {float(a):.3f}" for c, a in zip(CLASS_NAMES, per_class)), flush=True
        )
    return results


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m phaselens.zoo.train", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="all", help=f"one of {', '.join(NAMES)}, or 'all'")
    p.add_argument("--out", type=Path, default=None, help="folder for NAME.safetensors (default: the shipped weights)")
    p.add_argument("--n-train", type=int, default=None, help="override every recipe's training set size")
    p.add_argument("--n-val", type=int, default=1000)
    p.add_argument("--n-test", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=None, help="override every recipe's epoch count")
    p.add_argument("--seed", type=int, default=0, help="initialization and shuffling seed")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--eval-only", action="store_true", help="only report the test accuracy of saved weights")
    args = p.parse_args(argv)

    torch.set_num_threads(args.threads)
    names = list(NAMES) if args.model == "all" else [args.model]
    for name in names:
        if name not in NAMES:
            p.error(f"unknown model {name!r}; valid: {', '.join(NAMES)}, all")
    shape_names = [n_ for n_ in names if n_ not in PARTS_MODELS]
    if args.eval_only:
        evaluate(names, args.n_test, TEST_SEED, args.out)
        evaluate(shape_names, args.n_test, TEST_SEED, args.out, TRAIN_SCALE)
        return

    out = args.out or Path(__file__).resolve().parent / "weights"
    t0 = time.time()
    data: dict[tuple[bool, int], tuple] = {}  # (parts?, size) -> training and validation data, drawn once per run
    for name in names:
        parts = name in PARTS_MODELS
        n_train = args.n_train or RECIPES[name].n_train
        if (parts, n_train) not in data:
            what = "parts" if parts else f"shapes (object scale {TRAIN_SCALE})"
            print(f"generating {n_train} training images, {what}, seed {TRAIN_SEED}", flush=True)
            train_u8, train_y = generate_uint8(n_train, INPUT_SIZE, TRAIN_SEED, TRAIN_SCALE, parts=parts)
            mean, std = channel_stats(train_u8)
            print(f"mean {mean} std {std} ({time.time() - t0:.0f}s)", flush=True)
            val_x, val_y = (make_parts_batch if parts else make_batch)(args.n_val, INPUT_SIZE, VAL_SEED)
            val_x = (val_x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
            data[parts, n_train] = (train_u8, train_y, val_x, val_y, mean, std)
        train_u8, train_y, val_x, val_y, mean, std = data[parts, n_train]
        t1 = time.time()
        net = train_one(name, train_u8, train_y, val_x, val_y, mean, std, seed=args.seed, epochs=args.epochs)
        minutes = (time.time() - t1) / 60.0
        # No timings in the file: the same command must give byte-identical weights.
        extra = {
            "phaselens.dataset": (
                f"ProceduralParts(n={n_train}, size={INPUT_SIZE}, seed={TRAIN_SEED})"
                if parts
                else f"ProceduralShapes(n={n_train}, size={INPUT_SIZE}, seed={TRAIN_SEED}, scale={TRAIN_SCALE})"
            ),
            "phaselens.recipe": json.dumps(
                RECIPES[name].__dict__ | {"n_train": n_train} | ({"epochs": args.epochs} if args.epochs else {})
            ),
        }
        path = save(net, name, out, mean, std, extra)
        print(f"[{name}] saved {path} ({path.stat().st_size / 1e6:.2f} MB, {minutes:.1f} min)", flush=True)
    evaluate(names, args.n_test, TEST_SEED, out)
    evaluate(shape_names, args.n_test, TEST_SEED, out, TRAIN_SCALE)
    print(f"total {(time.time() - t0) / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
