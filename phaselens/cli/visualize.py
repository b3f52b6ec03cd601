"""`phaselens visualize`: images for one target spec, with transparency, grid and manifest."""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from ..errors import PhaseLensError
from ..io import atomic_write_json
from ..param import METHODS
from .common import add_model_args, load_model_from_args, versions

ORDER = 10


def add_run_args(p: argparse.ArgumentParser) -> None:
    """Optimization options shared with other commands (lens, bench, demo)."""
    p.add_argument("--method", default="maco", choices=METHODS, help="image parameterization (default maco)")
    p.add_argument("--steps", type=int, default=256, help="optimization steps (default 256)")
    p.add_argument("--size", type=int, default=None, help="image side in pixels (default: input size x 512/224)")
    p.add_argument("--crops", type=int, default=6, help="random crops per image per step (default 6)")
    p.add_argument("--crop-size", default=None, metavar="MIN,MAX",
                   help="crop side as fractions of the image's shorter side (default 0.2,0.3 as in the MACO paper; 0.5,0.9 in demo)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--spectrum", default=None, help="MACO magnitude spectrum file (default: the shipped one)")
    p.add_argument("--amp", action="store_true",
                   help="bf16 autocast on CUDA: faster for big batches (lens), ignored on CPU (see docs/performance.md)")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format for CNNs on GPU")


def run_kwargs(args: argparse.Namespace) -> dict:
    if args.steps < 1:
        raise PhaseLensError(f"--steps must be >= 1, got {args.steps}")
    if args.size is not None and args.size < 8:
        raise PhaseLensError(f"--size must be >= 8 pixels, got {args.size}")
    kwargs = dict(method=args.method, steps=args.steps, image_size=args.size, crops=args.crops, spectrum=args.spectrum,
                  amp=args.amp, channels_last=args.channels_last)
    if args.crop_size:
        kwargs["crop_size"] = parse_crop_size(args.crop_size)
    return kwargs


def parse_crop_size(text: str) -> tuple[float, float]:
    """"0.2,0.3" -> (0.2, 0.3); the range itself is checked by `CropConfig`."""
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise PhaseLensError(f"--crop-size takes MIN,MAX fractions like 0.2,0.3, got {text!r}") from None
    from ..transforms import CropConfig

    CropConfig(size=(lo, hi))
    return lo, hi


def register(sub) -> None:
    p = sub.add_parser("visualize", help="visualize classes, channels or neurons of a model")
    add_model_args(p)
    p.add_argument("--target", required=True, help="class:3, class:0-9, class:all, channel:LAYER:12, neuron:LAYER:12")
    add_run_args(p)
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..render import visualize
    from ..targets import parse_targets

    kwargs = run_kwargs(args)
    model = load_model_from_args(args)
    targets = parse_targets(args.target, model)
    out = Path(args.out)
    start = time.time()
    result = visualize(model, targets.objective, seed=args.seed, progress=True, **kwargs)
    # Write everything into a hidden folder beside OUT, then move it in: no partial outputs.
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
    try:
        result.save(tmp, targets.names)
        manifest = dict(
            command="visualize", target=args.target, kind=targets.kind, versions=versions(),
            settings=result.settings, seconds=round(time.time() - start, 2),
            images=[
                dict(name=n, label=lab, png=f"{n}.png", rgba=f"{n}_rgba.png", final_score=s)
                for n, lab, s in zip(targets.names, targets.labels, result.final_scores)
            ],
            grid="grid.png",
        )
        atomic_write_json(tmp / "manifest.json", manifest)
        out.mkdir(parents=True, exist_ok=True)
        for f in sorted(tmp.iterdir(), key=lambda f: f.name == "manifest.json"):
            f.replace(out / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"wrote {len(targets.names)} visualizations of {model.name} to {out}/ (grid.png, manifest.json)")
    return 0
