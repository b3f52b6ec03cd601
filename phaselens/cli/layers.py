"""`phaselens layers`: every addressable layer with its type and output shape."""

from __future__ import annotations

import argparse

from ..features import list_layers
from .common import add_model_args, load_model_from_args

ORDER = 20


def register(sub) -> None:
    p = sub.add_parser("layers", help="list the layers objectives can address")
    add_model_args(p)
    p.add_argument("--filter", default=None, help="only names containing this text")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    model = load_model_from_args(args)
    rows = [r for r in list_layers(model) if not args.filter or args.filter in r.name]
    width = max([len(r.name) for r in rows] + [4])
    twidth = max([len(r.type) for r in rows] + [4])
    print(f"{'name':<{width}}  {'type':<{twidth}}  output (one image)")
    for r in rows:
        shape = "x".join(str(s) for s in r.shape) if r.shape else "-"
        print(f"{r.name:<{width}}  {r.type:<{twidth}}  {shape}")
    print(f"# {len(rows)} layers of {model.name}, input {model.channels}x{model.input_size[0]}x{model.input_size[1]}")
    return 0
