"""`phaselens bench`: plausibility, FID and transferability of MACO, Fourier and pixel visualizations.

Every class of each model is visualized with each method (seeds 0..N-1), then
scored by every other model (and any --evaluators) against natural images of the
same classes, with and without the transparency mask. Natural images are the
embedded procedural dataset (held-out seed) unless --images names an ImageFolder.
Writes OUT/results.csv, results.md, results.png, manifest.json and a grid per
(model, method) under OUT/images/. Visualizations are cached in OUT/cache/, so
rerunning an interrupted command resumes it. See docs/benchmark.md.
"""

from __future__ import annotations

import argparse
import shlex
import time
from pathlib import Path

from ..errors import PhaseLensError

ORDER = 40
# The default zoo run (3 models x 3 methods x 2 seeds x 256 steps) fits in 15 minutes on 2 shared
# CPU cores (measured times in docs/benchmark.md); 256 steps is the library's (and paper's) default.
DEFAULT_STEPS = 256
DEFAULT_SEEDS = 2
DEFAULT_PER_CLASS = 50
GRID_CLASSES = 16


def register(sub) -> None:
    from ..bench.run import DEFAULT_METHODS, DEFAULT_MODELS

    p = sub.add_parser("bench", help="benchmark visualization methods: plausibility, FID, transferability",
                       description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default=",".join(DEFAULT_MODELS),
                   help=f"comma-separated model specs to visualize (default {','.join(DEFAULT_MODELS)})")
    p.add_argument("--evaluators", default=None,
                   help="comma-separated extra evaluator specs (default: only the models, each scoring the others)")
    p.add_argument("--methods", default=",".join(DEFAULT_METHODS),
                   help=f"comma-separated methods (default {','.join(DEFAULT_METHODS)})")
    p.add_argument("--images", default=None, metavar="DIR",
                   help="natural images, one subfolder per class (ImageFolder); default: the procedural dataset")
    p.add_argument("--per-class", type=int, default=DEFAULT_PER_CLASS,
                   help=f"natural images per class (default {DEFAULT_PER_CLASS})")
    p.add_argument("--spectrum", default=None, metavar="FILE", help="MACO magnitude spectrum (.npy/.json)")
    p.add_argument("--seeds", type=int, default=DEFAULT_SEEDS, help=f"visualizations per class (default {DEFAULT_SEEDS})")
    p.add_argument("--steps", type=int, default=DEFAULT_STEPS, help=f"optimization steps (default {DEFAULT_STEPS})")
    p.add_argument("--size", type=int, default=None, help="image side (default: input size x 512/224)")
    p.add_argument("--crops", type=int, default=6, help="crops per image per step (default 6)")
    p.add_argument("--crop-size", default="0.20,0.30", metavar="MIN,MAX",
                   help="crop side as fractions of the image (default 0.20,0.30)")
    p.add_argument("--lr", type=float, default=1.0, help="NAdam learning rate (default 1.0)")
    p.add_argument("--fid-dims", type=int, default=8, help="FID in this many principal directions (default 8)")
    p.add_argument("--no-natural", action="store_true", help="skip the held-out natural-image reference row")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument("--cache", default=None, metavar="DIR",
                   help="where visualizations are cached (default OUT/cache); runs sharing it reuse "
                   "every visualization whose settings match (e.g. fourier and pixel across --spectrum runs)")
    p.add_argument("--no-cache", action="store_true", help="recompute visualizations even if the cache has them")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=run)


def _list(text: str, what: str) -> list[str]:
    items = [s.strip() for s in text.split(",") if s.strip()]
    if not items:
        raise PhaseLensError(f"--{what} is empty")
    return list(dict.fromkeys(items))


def _crop_size(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise PhaseLensError(f"--crop-size {text!r} should be MIN,MAX, e.g. 0.2,0.3") from None
    if not 0 < lo <= hi <= 1:
        raise PhaseLensError(f"--crop-size needs 0 < MIN <= MAX <= 1, got {text}")
    return lo, hi


def _check(args: argparse.Namespace):
    """Every argument checked before anything is written; returns the config and method list."""
    from ..bench.run import NATURAL, BenchConfig
    from ..param import METHODS

    methods = _list(args.methods, "methods")
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise PhaseLensError(f"unknown method {bad[0]!r}; valid: {', '.join(METHODS)}")
    for name, value, low in (("steps", args.steps, 1), ("seeds", args.seeds, 1), ("per-class", args.per_class, 2),
                             ("crops", args.crops, 1), ("fid-dims", args.fid_dims, 1)):
        if value < low:
            raise PhaseLensError(f"--{name} must be >= {low}, got {value}")
    if args.size is not None and args.size < 8:
        raise PhaseLensError(f"--size must be >= 8 pixels, got {args.size}")
    if args.lr <= 0:
        raise PhaseLensError(f"--lr must be > 0, got {args.lr}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise PhaseLensError(f"--out {out} exists and is not a folder")
    if args.spectrum is not None:
        from ..spectrum import load_spectrum

        load_spectrum(args.spectrum)
    if args.images is not None:
        from ..bench.data import class_folders

        class_folders(args.images)
    assert NATURAL not in METHODS
    cfg = BenchConfig(tuple(methods), args.seeds, args.steps, args.size, args.crops, _crop_size(args.crop_size),
                      args.lr, args.spectrum, args.fid_dims, not args.no_natural)
    return cfg


def _load(specs: list[str], device):
    from ..models import load_model

    return {spec: load_model(spec).to(device) for spec in specs}


def command_line(args: argparse.Namespace, cfg) -> str:
    """The effective command, every setting spelled out (for the report)."""
    parts = ["phaselens", "bench", "--models", args.models, "--methods", ",".join(cfg.methods),
             "--seeds", str(cfg.seeds), "--steps", str(cfg.steps)]
    for flag, value, default in (("--evaluators", args.evaluators, None), ("--images", args.images, None),
                                 ("--per-class", args.per_class, DEFAULT_PER_CLASS),
                                 ("--spectrum", args.spectrum, None), ("--size", args.size, None),
                                 ("--crops", args.crops, 6), ("--crop-size", args.crop_size, "0.20,0.30"),
                                 ("--lr", args.lr, 1.0), ("--fid-dims", args.fid_dims, 8)):
        if value != default:
            parts += [flag, str(value)]
    if args.no_natural:
        parts.append("--no-natural")
    return shlex.join(parts + ["--out", args.out])


def run(args: argparse.Namespace) -> int:
    from ..bench import report
    from ..bench.data import folder_reference, procedural_reference
    from ..bench.metrics import apply_mask
    from ..bench.run import run_bench
    from ..io import atomic_write_bytes, atomic_write_json, make_grid, save_png
    from .common import resolve_device, versions

    import torch

    cfg = _check(args)
    device = resolve_device(args.device)
    specs = _list(args.models, "models")
    models = _load(specs, device)
    extra = [s for s in _list(args.evaluators, "evaluators") if s not in models] if args.evaluators else []
    evaluators = {**models, **_load(extra, device)}
    if len(evaluators) < 2:
        raise PhaseLensError("transferability needs an evaluator other than the model: give 2+ --models or --evaluators")
    first = next(iter(models.values()))
    size = max(max(m.input_size) for m in evaluators.values())
    if args.images is None:
        from ..bench.run import num_logits
        from ..data import NUM_CLASSES

        odd = {spec: n for spec, m in evaluators.items() if (n := num_logits(m)) != NUM_CLASSES}
        if odd:
            raise PhaseLensError(f"the built-in natural images are the {NUM_CLASSES} procedural classes, but "
                                 f"{', '.join(f'{k} has {v}' for k, v in odd.items())} classes; give --images DIR")
        ref = procedural_reference(args.per_class, max(size, 32), cfg.seeds)
    else:
        ref = folder_reference(args.images, first.class_names, size, args.per_class, cfg.seeds)

    out = Path(args.out)
    start = time.time()
    result = run_bench(models, evaluators, ref, cfg, cache=None if args.no_cache else Path(args.cache or out / "cache"),
                       progress=not args.quiet)
    total = time.time() - start
    summary = report.summarize(result.rows)
    command = command_line(args, cfg)
    notes = [
        f"Command: `{command}`",
        "",
        f"Natural images: {ref.source}. Evaluators: {', '.join(f'`{e}`' for e in evaluators)}. "
        f"{cfg.seeds} seed(s), {cfg.steps} steps; FID in {cfg.fid_dims} principal directions. "
        f"Run time {total / 60:.1f} min (visualization: "
        + ", ".join(f"{k} {v:.0f}s" for k, v in result.seconds.items()) + ").",
        "",
        "Rows `natural` are held-out natural images scored the same way (the mask leaves them unchanged).",
    ]
    title = "PhaseLens benchmark"
    atomic_write_bytes(out / "results.csv", report.to_csv(result.rows).encode())
    atomic_write_bytes(out / "results.md", report.markdown_report(summary, title, notes).encode())
    atomic_write_bytes(out / "results.png", report.png_bytes(report.bar_chart(summary, f"{title}: {command}"[:160])))
    for (spec, method), vis in result.visualizations.items():
        first_seed = [i for i, s in enumerate(vis.seeds) if s == 0][:GRID_CLASSES]
        imgs = vis.images[first_seed]
        both = torch.cat([imgs, apply_mask(imgs, vis.alpha[first_seed])])
        save_png(make_grid(both, ncol=len(first_seed)), out / "images" / f"{_slug(spec)}_{method}.png")
    atomic_write_json(out / "manifest.json", dict(
        command=command, config=_jsonable(vars(cfg)), models=specs, evaluators=list(evaluators),
        reference=ref.source, classes=ref.classes, seconds=round(total, 1), visualize_seconds=result.seconds,
        versions=versions(), files=["results.csv", "results.md", "results.png", "images/"],
    ))
    print(report.markdown_table([r for r in summary if not r["masked"]]))
    print(f"wrote {out}/results.csv, results.md, results.png ({total / 60:.1f} min)")
    return 0


def _slug(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-." else "_" for c in name)


def _jsonable(d: dict) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
