"""`phaselens accentuate`: change real images as little as needed so that a target grows (feature
accentuation), to show what in each image the target responds to."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from ..accentuate import ACCENTUATE, accentuate
from ..errors import PhaseLensError
from ..imagefiles import load_image
from ..io import atomic_write_json, make_grid, output_folder, save_png, save_rgba, transparency_alpha
from ..lens.plan import expand_targets, objective_for
from ..render import evaluate
from ..util import slug, versions
from .common import add_model_args, add_run_args, finite, load_model_from_args, run_config

ORDER = 15

EPILOG = """examples:
  phaselens accentuate --model zoo:cnn --image cat.png --target class:3 --out acc/
  phaselens accentuate --model timm:resnet50 --image a.jpg b.jpg --target class:207,281 --out acc/
With one target it is accentuated in every image; with as many targets as images, one each."""


def register(sub) -> None:
    p = sub.add_parser(
        "accentuate",
        help="accentuate a class, channel or neuron in real images",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_args(p)
    p.add_argument("--image", nargs="+", required=True, metavar="FILE", help="image files (PNG, JPEG, ...)")
    p.add_argument("--target", required=True, help="class:3, class:3,7 (one per image), channel:LAYER:12, ...")
    p.add_argument("--reg-layer", default=None, help="layer kept near the original (default: the last before pooling)")
    p.add_argument(
        "--reg-weight",
        type=finite(0.0),
        default=1.0,
        help="weight of the distance to the original's activations (default 1; 0: free ascent)",
    )
    p.add_argument("--no-precondition", action="store_true", help="change pixels, not the 1/f-scaled spectrum")
    add_run_args(p, ACCENTUATE, method=False, ema=False)
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=run)


def _correlation(a: torch.Tensor, b: torch.Tensor) -> list[float]:
    """Pixel correlation of each pair of images (Pearson, over all channels)."""
    x, y = a.flatten(1) - a.flatten(1).mean(1, keepdim=True), b.flatten(1) - b.flatten(1).mean(1, keepdim=True)
    return [round(float(v), 4) for v in (x * y).sum(1) / (x.norm(dim=1) * y.norm(dim=1)).clamp_min(1e-12)]


def run(args: argparse.Namespace) -> int:
    config = run_config(args, ACCENTUATE)
    model = load_model_from_args(args)
    with output_folder(args.out) as out:  # a bad --out is refused before the run
        plan = expand_targets(args.target, model)
        if len(plan) not in (1, len(args.image)):
            raise PhaseLensError(
                f"{len(plan)} targets for {len(args.image)} images: give one target, or one per image (class:3,7)"
            )
        size = (args.size, args.size) if args.size else model.input_size
        originals = torch.stack([load_image(Path(f), size, model.channels) for f in args.image])
        per_image = plan * len(originals) if len(plan) == 1 else plan
        objective = objective_for(per_image)
        start = time.time()
        result = accentuate(
            model,
            originals,
            objective,
            config,
            reg_layer=args.reg_layer,
            reg_weight=args.reg_weight,
            precondition=not args.no_precondition,
            seed=args.seed,
            progress=True,
        )
        before, after = evaluate(model, objective, originals), evaluate(model, objective, result.images)
        with torch.no_grad():
            predicted = [model(x).argmax(dim=1).tolist() for x in (originals, result.images)]
        names = [f"{i:02d}_{slug(Path(f).stem)}" for i, f in enumerate(args.image)]
        alpha = transparency_alpha(result.transparency)
        items = []
        for i, name in enumerate(names):
            save_png(originals[i], out / f"{name}_original.png")
            save_png(result.images[i], out / f"{name}.png")
            save_rgba(result.images[i], alpha[i], out / f"{name}_rgba.png")
            items.append(
                dict(
                    file=str(args.image[i]),
                    target=per_image[i].key,
                    label=per_image[i].label,
                    original=f"{name}_original.png",
                    accentuated=f"{name}.png",
                    rgba=f"{name}_rgba.png",
                    score_before=round(float(before[i]), 5),
                    score_after=round(float(after[i]), 5),
                    predicted_before=predicted[0][i],
                    predicted_after=predicted[1][i],
                    pixel_correlation=_correlation(originals, result.images)[i],
                )
            )
        # Side by side: the originals above, the accentuated images below.
        save_png(make_grid(torch.cat([originals, result.images]), ncol=len(names)), out / "grid.png")
        manifest = dict(
            command="accentuate",
            target=args.target,
            settings=result.settings,
            seconds=round(time.time() - start, 2),
            images=items,
            grid="grid.png",
            versions=versions(),
        )
        atomic_write_json(out / "manifest.json", manifest)
    print(f"accentuated {len(names)} images with {model.name} -> {out}/ (grid.png, manifest.json)")
    for item in items:
        print(
            f"  {item['file']}: {item['label']} {item['score_before']:.3g} -> {item['score_after']:.3g}, "
            f"pixel correlation {item['pixel_correlation']:.2f}"
        )
    return 0
