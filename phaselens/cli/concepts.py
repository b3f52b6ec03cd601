"""`phaselens concepts`: the concepts of every class (CRAFT / holistic), resumable, with their scores."""

from __future__ import annotations

import argparse
import json

from ..concepts.run import run_concepts
from .common import add_model_args, add_run_args, load_model_from_args, run_config, whole

ORDER = 35

EPILOG = """examples:
  phaselens concepts --model zoo:parts --out concepts/            ground truth scores in concepts/metrics.json
  phaselens concepts --model timm:resnet50 --images imagenet/val --target class:0-99 --out concepts/
Killed and re-run with the same options, it continues where it stopped."""


def register(sub) -> None:
    p = sub.add_parser(
        "concepts",
        help="extract, score and visualize the concepts of every class",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_args(p)
    p.add_argument("--target", default="class:all", help="class:all (default), class:0-9, class:NAME")
    p.add_argument(
        "--images",
        default=None,
        metavar="DIR",
        help="ImageFolder-style folder (default: a zoo model's own procedural images)",
    )
    add_concept_args(p)
    p.add_argument("--top-k", type=whole(1), default=10, help="top crops per concept (default 10)")
    p.add_argument("--no-images", action="store_true", help="skip the MACO images of the concepts")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_run_args(p, method=False)
    p.add_argument("--out", required=True, help="output folder (created, or resumed)")
    p.set_defaults(func=run)


def add_concept_args(p: argparse._ActionsContainer) -> None:
    """The extraction options `concepts` and `lens --concepts` share."""
    p.add_argument("--layer", default=None, help="layer to split the model at (default: the last before pooling)")
    p.add_argument("--rank", type=whole(1), default=10, help="concepts per class (default 10)")
    p.add_argument("--per-class", type=whole(2), default=50, help="images per class, predicted as it (default 50)")
    p.add_argument(
        "--on",
        choices=("crops", "positions"),
        default=None,
        help="rows: crops (CRAFT) or positions (default: the model's own setting, else crops; zoo:parts: positions)",
    )
    p.add_argument(
        "--factorization",
        choices=("auto", "nmf", "semi_nmf", "pca"),
        default="auto",
        help="auto (default): nmf for non-negative activations, else semi_nmf",
    )
    p.add_argument("--group", type=whole(1), default=16, help="classes per batched factorization (default 16)")


def concept_options(args: argparse.Namespace) -> dict:
    """The options of `add_concept_args` as keyword arguments of `run_concepts`."""
    return dict(
        layer=args.layer,
        rank=args.rank,
        per_class=args.per_class,
        on=args.on,
        method=args.factorization,
        group=args.group,
    )


def run(args: argparse.Namespace) -> int:
    config = run_config(args)
    model = load_model_from_args(args)
    report = run_concepts(
        model,
        args.out,
        args.target,
        images=args.images,
        seed=args.seed,
        config=config,
        concept_images=not args.no_images,
        top_k=args.top_k,
        progress=not args.no_progress,
        **concept_options(args),
    )
    print(
        f"concepts of {model.name}: made {report.made}, already complete {report.skipped}, "
        f"of {len(report.classes)} classes, {report.seconds:.1f} s -> {report.out_dir}/metrics.json"
    )
    truth = report.metrics.get("ground_truth")
    if truth:
        print("ground truth: " + json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in truth.items()}))
    return 0
