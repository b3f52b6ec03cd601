"""`phaselens visualize`: images for one target spec, with transparency, grid and manifest."""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

from ..errors import NonFiniteError
from ..io import atomic_write_json, output_folder
from ..lens.plan import expand_targets, facet_diversity, objective_for, target_seed
from ..render import visualize
from ..util import versions
from .common import (
    add_diversity_args,
    add_model_args,
    add_run_args,
    load_model_from_args,
    run_config,
    whole,
)

ORDER = 10


def register(sub) -> None:
    p = sub.add_parser("visualize", help="visualize classes, channels or neurons of a model")
    add_model_args(p)
    p.add_argument("--target", required=True, help="class:3, class:0-9, class:all, channel:LAYER:12, neuron:LAYER:12")
    add_run_args(p)
    p.add_argument("--facets", type=whole(1), default=1, help="images per target, each from its own seed (default 1)")
    add_diversity_args(p)
    p.add_argument("--out", required=True, help="output folder")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    config = run_config(args)
    model = load_model_from_args(args)
    plan = expand_targets(args.target, model)
    facets = args.facets
    per_image = [t for t in plan for _ in range(facets)]
    names = [t.name if facets == 1 else f"{t.name}_facet{f}" for t in plan for f in range(facets)]
    labels = [t.label for t in per_image]
    # One facet: the given seed (as before facets existed); more: a seed per facet, as the Lens derives them.
    seeds = (
        [args.seed] * len(plan)
        if facets == 1
        else [target_seed(args.seed, t.key, f) for t in plan for f in range(facets)]
    )
    objective = objective_for(per_image)
    extra = facet_diversity(model, plan, facets, args.diversity, args.diversity_layer)  # as the Lens does
    if extra is not None:
        objective = objective + extra
    start = time.time()
    with output_folder(args.out) as out:
        try:
            result = visualize(model, objective, config, seed=seeds, progress=True)
        except NonFiniteError as err:
            # Name the targets as the user gave them, not as image indices.
            shown = ", ".join(labels[i] for i in err.images[:5])
            raise NonFiniteError(
                f"{shown}: the objective became NaN or infinite at step {err.step}; nothing was written. "
                "Check that the model gives finite outputs on [0, 1] images, or lower --lr",
                err.images,
                err.step,
            ) from None
        # Write everything into a hidden folder beside OUT's files, then move it in: no partial outputs.
        tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.tmp-"))
        try:
            result.save(tmp, names)
            manifest = dict(
                command="visualize",
                target=args.target,
                kind=plan[0].kind,
                facets=facets,
                versions=versions(),
                settings=result.settings,
                seconds=round(time.time() - start, 2),
                images=[
                    dict(name=n, label=lab, png=f"{n}.png", rgba=f"{n}_rgba.png", final_score=s)
                    for n, lab, s in zip(names, labels, result.final_scores)
                ],
                grid="grid.png",
            )
            atomic_write_json(tmp / "manifest.json", manifest)
            for f in sorted(tmp.iterdir(), key=lambda f: f.name == "manifest.json"):
                f.replace(out / f.name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    print(f"wrote {len(names)} visualizations of {model.name} to {out}/ (grid.png, manifest.json)")
    return 0
