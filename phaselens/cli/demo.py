"""`phaselens demo`: the main job on the embedded zoo, offline, in minutes on a CPU.

Visualizes every class of the default models (the zoo's CNN and ViT) with MACO,
builds a Lens site for each, and checks transferability: is the CNN's
visualization of class k classified as k by the ViT, and vice versa? Then makes
the concept Lens of zoo:parts (every class's concepts on its page, scored
against the parts the classes are made of).
"""

from __future__ import annotations

import argparse
import html
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..concepts.folder import missing_extra
from ..config import DEFAULT
from ..io import atomic_write_bytes, output_folder, read_json
from ..lens import run_lens, store
from ..lens.generate import LensReport
from ..transfer import optimization_view, transfer_rate
from .common import add_run_args, load_models, resolve_device, run_config, split_list

ORDER = 5
DEFAULT_MODELS = ("zoo:cnn", "zoo:vit")
# The zoo's objects fill about half of its 64 px images: crops of half the image or more
# make visualizations at that scale (the paper's 0.2-0.3 suits ImageNet models). Measured
# on the zoo, 128 steps: classified as their class by the model itself 60% vs 10%.
DEMO = DEFAULT.replace(crop_size=(0.5, 0.9))
CONCEPTS_MODEL = "zoo:parts"
# The concept images of zoo:parts are directions in its 32x32 layer3, costly on a CPU: the demo makes
# 5 concepts a class and their images (and the classes') in at most 64 steps of 3 crops, about 2 min.
CONCEPT_OPTIONS = dict(rank=5)
CONCEPT_STEPS, CONCEPT_CROPS = 64, 3


def register(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="visualize every class of the embedded models and build their Lens sites",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default="phaselens-demo", help="output folder (default: phaselens-demo)")
    p.add_argument("--models", default=",".join(DEFAULT_MODELS), help="comma-separated model specs")
    add_run_args(p, DEMO)
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N, or auto (default: GPU when present)")
    p.add_argument(
        "--no-concepts", action="store_true", help=f"skip the concept Lens of {CONCEPTS_MODEL} (about 2 min on a CPU)"
    )
    p.set_defaults(func=run)


def _images(lens_dir: Path, report: LensReport) -> tuple[torch.Tensor, list[int]]:
    """The first facet of every complete class target of a lens folder, with its class index."""
    imgs, labels = [], []
    for name in report.names:
        manifest = store.read_complete(lens_dir, name)
        if manifest is None or manifest.kind != "class":
            continue
        folder = store.target_dir(lens_dir, name)
        arr = np.asarray(Image.open(folder / manifest.facets[0].image).convert("RGB"), dtype=np.float32) / 255
        imgs.append(torch.from_numpy(arr).permute(2, 0, 1))
        labels.append(manifest.index)
    return torch.stack(imgs), labels


def run(args: argparse.Namespace) -> int:
    config = run_config(args, DEMO)
    specs = split_list(args.models, "models")
    device = resolve_device(args.device)
    models = load_models(args, specs, device)
    with output_folder(args.out) as out:
        start = time.time()
        reports = {}
        for spec, model in models.items():
            folder = out / spec.replace(":", "_")
            print(f"[demo] {spec}: MACO visualizations of every class -> {folder}/")
            reports[spec] = run_lens(model, folder, "class:all", config, seed=args.seed, title=f"Lens of {spec}")
        # Two views: the whole image (the paper's protocol), and the centre at the mean crop
        # size, the scale at which the visualized model saw its features during the run.
        view = optimization_view(config.crop_size)
        rows = []
        for a in specs:
            images, labels = _images(out / a.replace(":", "_"), reports[a])
            for b in specs:
                if a != b:
                    whole = transfer_rate(models[b], images, labels)
                    scaled = transfer_rate(models[b], images, labels, view=view)
                    rows.append((a, b, whole, scaled, len(labels)))
                    print(
                        f"[demo] transferability: {a} visualizations classified as their class by {b}: "
                        f"{whole:.0%} of {len(labels)} (whole image), {scaled:.0%} (centre {view:.0%}, "
                        f"the optimization's scale)"
                    )
        concepts = None
        if not args.no_concepts and missing_extra():
            print(f"[demo] no concept Lens of {CONCEPTS_MODEL}: it needs pip install 'phaselens[concepts]'")
        elif not args.no_concepts:
            concepts = _concept_lens(args, out, config, device)
        _write_index(out, reports, rows, view, concepts)
    print(f"[demo] done in {time.time() - start:.0f} s. Open {out / 'index.html'} in a browser; sites:")
    for spec, report in reports.items():
        print(f"  {spec}: {report.site}")
    if concepts is not None:
        print(f"  {CONCEPTS_MODEL} with concepts: {concepts[0].site}")
    return 0


def _concept_lens(args: argparse.Namespace, out: Path, config, device) -> tuple[LensReport, dict]:
    """The Lens of zoo:parts with every class's concepts; returns it and its ground-truth scores."""
    folder = out / CONCEPTS_MODEL.replace(":", "_")
    print(f"[demo] {CONCEPTS_MODEL}: MACO images and concepts of every class -> {folder}/")
    model = load_models(args, [CONCEPTS_MODEL], device)[CONCEPTS_MODEL]
    cfg = config.replace(steps=min(config.steps, CONCEPT_STEPS), crops=min(config.crops, CONCEPT_CROPS))
    report = run_lens(
        model, folder, "class:all", cfg, seed=args.seed, title=f"Lens of {CONCEPTS_MODEL}", concepts=CONCEPT_OPTIONS
    )
    truth = (read_json(folder / "concepts" / "metrics.json") or {}).get("ground_truth", {})
    if truth:
        print(
            f"[demo] concepts of {CONCEPTS_MODEL} against its parts: recovery {truth['recovery']:.0%}, "
            f"importance_truth {truth['importance_truth']:.0%}, distractor_share {truth['distractor_share']:.1%}"
        )
    return report, truth


def _write_index(out: Path, reports: dict, rows: list, view: float, concepts: tuple | None = None) -> None:
    links = "".join(
        f'<li><a href="{html.escape(str(r.site.relative_to(out)))}">{html.escape(spec)}</a> — {r.total} classes</li>'
        for spec, r in reports.items()
    )
    if concepts is not None:
        report, truth = concepts
        scores = ", ".join(f"{k} {v:.2f}" for k, v in truth.items() if isinstance(v, float))
        links += (
            f'<li><a href="{html.escape(str(report.site.relative_to(out)))}">{CONCEPTS_MODEL}</a> — '
            f"{report.total} classes with their concepts (against the known parts: {html.escape(scores)})</li>"
        )
    table = "".join(
        f"<tr><td>{html.escape(a)}</td><td>{html.escape(b)}</td><td>{whole:.0%} of {n}</td>"
        f"<td>{scaled:.0%} of {n}</td></tr>"
        for a, b, whole, scaled, n in rows
    )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>PhaseLens demo</title>
<style>body{{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#222}}
td,th{{padding:.3rem .8rem;border-bottom:1px solid #ddd;text-align:left}}</style></head><body>
<h1>PhaseLens demo</h1><p>MACO feature visualizations of every class of the embedded models.</p>
<h2>Lens sites</h2><ul>{links}</ul>
<h2>Transferability</h2><p>Visualizations made on one model, classified by the other: the whole
image, and its centre {view:.0%} (the mean crop side of the optimization, so the evaluator sees the
features at the scale the visualized model saw them).</p>
<table><tr><th>visualized model</th><th>evaluator</th><th>whole image</th><th>centre {view:.0%}</th></tr>
{table}</table>
</body></html>
"""
    atomic_write_bytes(out / "index.html", page.encode())
