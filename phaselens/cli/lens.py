"""`phaselens lens`: every class (or channel) of a model, in batches, resumable,
sharded over torchrun ranks or Slurm array tasks, browsable as a static site."""

from __future__ import annotations

import argparse
import sys

import torch

from ..lens import build_site, run_lens
from ..shard import parse_shard, shard_from_env
from .common import (
    add_diversity_args,
    add_model_args,
    add_run_args,
    load_model_from_args,
    resolve_device,
    run_config,
    whole,
)
from .concepts import add_concept_args, concept_options

ORDER = 30

EPILOG = """examples:
  phaselens lens --model zoo:cnn --out lens/                      every class, site in lens/site/
  phaselens lens --model zoo:cnn --out lens/ --target channel:layer2:all --facets 3
  phaselens lens --model zoo:parts --out lens/ --concepts          with each class's concepts
  phaselens lens --model timm:resnet50 --images val/ --concepts --rank 10 --out lens/
  torchrun --nproc_per_node=4 -m phaselens lens --model zoo:cnn --out lens/
  phaselens lens --out lens/ --site-only                          rebuild lens/site/ only
Killed and re-run with the same options, it continues where it stopped."""


def register(sub) -> None:
    p = sub.add_parser(
        "lens",
        help="visualize every class or channel into a browsable static site",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_model_args(p)
    p.add_argument("--out", required=True, help="lens folder (created, or resumed)")
    p.add_argument(
        "--target",
        default="class:all",
        help="class:all (default), class:0-9, channel:LAYER:0-63, channel:LAYER:all, neuron:LAYER:5",
    )
    p.add_argument(
        "--batch",
        type=whole(1),
        default=None,
        help="targets per batch (default: 16 on CPU, measured from free memory on CUDA)",
    )
    p.add_argument(
        "--facets",
        "--seeds",
        dest="facets",
        type=whole(1),
        default=1,
        help="images per target, each from its own seed (default 1)",
    )
    add_run_args(p)
    add_diversity_args(p)
    p.add_argument(
        "--images",
        default=None,
        metavar="DIR",
        help="ImageFolder-style folder: add each target's most activating natural images",
    )
    p.add_argument("--top-k", type=whole(1), default=8, help="natural images per target with --images (default 8)")
    p.add_argument(
        "--accentuate",
        type=whole(0),
        default=0,
        metavar="K",
        help="with --images: accentuate each target in its top K natural images (feature accentuation; default 0)",
    )
    p.add_argument(
        "--shard",
        default=None,
        metavar="I/N",
        help="make only shard I of N (default: from torchrun RANK/WORLD_SIZE or Slurm array variables)",
    )
    p.add_argument(
        "--concepts",
        action="store_true",
        help="also extract every class's concepts (images: --images, else a zoo model's own) onto its page",
    )
    concepts = p.add_argument_group("concept options (with --concepts; as in `phaselens concepts`)")
    add_concept_args(concepts)
    p.add_argument("--title", default=None, help="site title (default: 'Lens of MODEL')")
    p.add_argument("--site-only", action="store_true", help="only rebuild OUT/site from what is complete")
    p.add_argument("--no-site", action="store_true", help="do not build the site at the end")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.site_only:
        path = build_site(args.out, title=args.title)
        print(f"site: {path}")
        return 0
    config = run_config(args)
    shard = parse_shard(args.shard) if args.shard else shard_from_env()
    device = resolve_device(args.device, shard.local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    model = load_model_from_args(args, device=device)
    report = run_lens(
        model,
        args.out,
        args.target,
        config,
        batch=args.batch,
        facets=args.facets,
        seed=args.seed,
        images=args.images,
        top_k=args.top_k,
        shard=shard,
        progress=not args.no_progress,
        site=not args.no_site,
        title=args.title,
        concepts=concept_options(args) if args.concepts else False,
        diversity=args.diversity,
        accentuate=args.accentuate,
        diversity_layer=args.diversity_layer,
    )
    where = f" (shard {shard} on {device})" if shard.world > 1 else f" on {device}"
    print(
        f"lens{where}: made {report.made}, already complete {report.skipped}, of {report.mine} targets "
        f"in batches of {report.batch}, {report.seconds:.1f} s"
    )
    if report.no_concepts:
        name, n = next(iter(report.no_concepts.items()))
        print(
            f"concepts: {len(report.no_concepts)} class(es) have too few images predicted as them for concepts "
            f"(e.g. {name}: {n}); give more images (--images) to have their concepts"
        )
    if report.site is not None:
        print(f"site: {report.site}")
    if report.failed:
        first = next(iter(report.failed.items()))
        print(
            f"phaselens lens: error: {len(report.failed)} target(s) failed, e.g. {first[0]}: {first[1]}; "
            "each is marked with failed.json in its folder, and running the same command again retries them",
            file=sys.stderr,
        )
        return 1
    return 0
