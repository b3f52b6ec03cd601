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

import torch

from ..bench import report
from ..bench.data import class_folders, folder_reference, procedural_reference
from ..bench.metrics import apply_mask
from ..bench.run import DEFAULT_METHODS, DEFAULT_MODELS, BenchConfig, num_logits, run_bench
from ..config import DEFAULT
from ..data import NUM_CLASSES
from ..errors import PhaseLensError
from ..io import atomic_write_bytes, atomic_write_json, make_grid, output_folder, save_png
from ..param import METHODS
from ..spectrum import load_spectrum
from ..util import slug, versions
from .common import add_run_args, load_models, resolve_device, run_config, split_list, whole

ORDER = 40
DEFAULT_SEEDS = 2
DEFAULT_PER_CLASS = 50
DEFAULT_FID_DIMS = 8
GRID_CLASSES = 16


def register(sub) -> None:
    p = sub.add_parser(
        "bench",
        help="benchmark visualization methods: plausibility, FID, transferability",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--models",
        default=",".join(DEFAULT_MODELS),
        help=f"comma-separated model specs to visualize (default {','.join(DEFAULT_MODELS)})",
    )
    p.add_argument(
        "--evaluators",
        default=None,
        help="comma-separated extra evaluator specs (default: only the models, each scoring the others)",
    )
    p.add_argument(
        "--methods",
        default=",".join(DEFAULT_METHODS),
        help=f"comma-separated methods (default {','.join(DEFAULT_METHODS)})",
    )
    p.add_argument(
        "--images",
        default=None,
        metavar="DIR",
        help="natural images, one subfolder per class (ImageFolder); default: the procedural dataset",
    )
    p.add_argument(
        "--per-class",
        type=whole(2),
        default=DEFAULT_PER_CLASS,
        help=f"natural images per class (default {DEFAULT_PER_CLASS})",
    )
    p.add_argument(
        "--seeds", type=whole(1), default=DEFAULT_SEEDS, help=f"visualizations per class (default {DEFAULT_SEEDS})"
    )
    add_run_args(p, method=False, seed=False)
    p.add_argument(
        "--fid-dims",
        type=whole(1),
        default=DEFAULT_FID_DIMS,
        help=f"FID in this many principal directions (default {DEFAULT_FID_DIMS})",
    )
    p.add_argument("--no-natural", action="store_true", help="skip the held-out natural-image reference row")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N or auto")
    p.add_argument(
        "--cache",
        default=None,
        metavar="DIR",
        help="where visualizations are cached (default OUT/cache); runs sharing it reuse "
        "every visualization whose settings match (e.g. fourier and pixel across --spectrum runs)",
    )
    p.add_argument("--no-cache", action="store_true", help="recompute visualizations even if the cache has them")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=run)


def _check(args: argparse.Namespace) -> BenchConfig:
    """Every argument checked before anything is written; returns the config."""
    methods = split_list(args.methods, "methods")
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise PhaseLensError(f"unknown method {bad[0]!r}; valid: {', '.join(METHODS)}")
    run = run_config(args)
    if args.spectrum is not None:
        load_spectrum(args.spectrum)
    if args.images is not None:
        class_folders(args.images)
    return BenchConfig(tuple(methods), args.seeds, run, args.fid_dims, not args.no_natural)


def command_line(args: argparse.Namespace, cfg: BenchConfig) -> str:
    """The effective command, every setting spelled out (for the report)."""
    run = cfg.run
    parts = [
        "phaselens",
        "bench",
        "--models",
        args.models,
        "--methods",
        ",".join(cfg.methods),
        "--seeds",
        str(cfg.seeds),
        "--steps",
        str(run.steps),
    ]
    for flag, value, default in (
        ("--evaluators", args.evaluators, None),
        ("--images", args.images, None),
        ("--per-class", args.per_class, DEFAULT_PER_CLASS),
        ("--spectrum", args.spectrum, None),
        ("--size", args.size, None),
        ("--crops", run.crops, DEFAULT.crops),
        ("--crop-size", run.crop_size, DEFAULT.crop_size),
        ("--noise", run.noise, DEFAULT.noise),
        ("--lr", run.lr, DEFAULT.lr),
        ("--ema", run.ema, DEFAULT.ema),
        ("--fid-dims", args.fid_dims, DEFAULT_FID_DIMS),
    ):
        if value != default:
            parts += [flag, ",".join(f"{v:g}" for v in value) if isinstance(value, tuple) else str(value)]
    for flag, on in (("--no-natural", args.no_natural), ("--amp", run.amp), ("--channels-last", run.channels_last)):
        if on:
            parts.append(flag)
    return shlex.join(parts + ["--out", args.out])


def run(args: argparse.Namespace) -> int:
    cfg = _check(args)
    device = resolve_device(args.device)
    specs = split_list(args.models, "models")
    models = load_models(args, specs, device)
    extra = [s for s in split_list(args.evaluators, "evaluators") if s not in models] if args.evaluators else []
    evaluators = {**models, **load_models(args, extra, device)}
    if len(evaluators) < 2:
        raise PhaseLensError(
            "transferability needs an evaluator other than the model: give 2+ --models or --evaluators"
        )
    first = next(iter(models.values()))
    size = max(max(m.input_size) for m in evaluators.values())
    if args.images is None:
        odd = {spec: n for spec, m in evaluators.items() if (n := num_logits(m)) != NUM_CLASSES}
        if odd:
            raise PhaseLensError(
                f"the built-in natural images are the {NUM_CLASSES} procedural classes, but "
                f"{', '.join(f'{k} has {v}' for k, v in odd.items())} classes; give --images DIR"
            )
        ref = procedural_reference(args.per_class, max(size, 32), cfg.seeds)
    else:
        ref = folder_reference(args.images, first.class_names, size, args.per_class, cfg.seeds)

    with output_folder(args.out) as out:
        start = time.time()
        result = run_bench(
            models,
            evaluators,
            ref,
            cfg,
            cache=None if args.no_cache else Path(args.cache or out / "cache"),
            progress=not args.quiet,
        )
        total = time.time() - start
        summary = report.summarize(result.rows)
        command = command_line(args, cfg)
        notes = [
            f"Command: `{command}`",
            "",
            f"Natural images: {ref.source}. Evaluators: {', '.join(f'`{e}`' for e in evaluators)}. "
            f"{cfg.seeds} seed(s), {cfg.run.steps} steps; FID in {cfg.fid_dims} principal directions. "
            f"Run time {total / 60:.1f} min (visualization: "
            + ", ".join(f"{k} {v:.0f}s" for k, v in result.seconds.items())
            + ").",
            "",
            "Rows `natural` are held-out natural images scored the same way (the mask leaves them unchanged).",
        ]
        title = "PhaseLens benchmark"
        atomic_write_bytes(out / "results.csv", report.to_csv(result.rows).encode())
        atomic_write_bytes(out / "results.md", report.markdown_report(summary, title, notes).encode())
        atomic_write_bytes(
            out / "results.png", report.png_bytes(report.bar_chart(summary, f"{title}: {command}"[:160]))
        )
        for (spec, method), vis in result.visualizations.items():
            first_seed = [i for i, s in enumerate(vis.seeds) if s == 0][:GRID_CLASSES]
            imgs = vis.images[first_seed]
            both = torch.cat([imgs, apply_mask(imgs, vis.alpha[first_seed])])
            save_png(make_grid(both, ncol=len(first_seed)), out / "images" / f"{slug(spec, limit=200)}_{method}.png")
        atomic_write_json(
            out / "manifest.json",
            dict(
                command=command,
                config=cfg.manifest(),
                models=specs,
                evaluators=list(evaluators),
                reference=ref.source,
                classes=ref.classes,
                seconds=round(total, 1),
                visualize_seconds=result.seconds,
                versions=versions(),
                files=["results.csv", "results.md", "results.png", "images/"],
            ),
        )
    print(report.markdown_table([r for r in summary if not r["masked"]]))
    print(f"wrote {out}/results.csv, results.md, results.png ({total / 60:.1f} min)")
    return 0
