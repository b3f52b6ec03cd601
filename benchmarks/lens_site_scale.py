"""The Lens site at 1000 classes with concepts: the index page's weight and the time of --site-only.

    python benchmarks/lens_site_scale.py                    # 1000 classes, rank 10, 50 images a class
    python benchmarks/lens_site_scale.py --classes 200 --keep /tmp/scale

1. `phaselens lens` of a tiny random 1000-class model, 1 step a class (the targets and their thumbnails).
2. The concepts of one zoo:cnn class, extracted for real (rank 10, 50 images), are the template of every
   class's concept data: copied into each of the 1000 class folders with its own class id, alignment
   classes drawn among the 1000, and 3 similar-concept links a concept. (No model here predicts 1000
   classes, so real extraction of 1000 classes cannot run on this machine; the site only reads the
   JSON, and its size per class is that of a real class.)
3. `phaselens lens --out DIR --site-only` in a subprocess, timed.

Prints the index weight (index.html with the scripts and styles it loads, and data.js), the largest
per-class page file, and the --site-only time. The targets of issue 18: index under 1.5 MB, --site-only
well under a minute.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from phaselens import load_model  # noqa: E402
from phaselens.concepts.run import run_concepts  # noqa: E402
from phaselens.lens import run_lens  # noqa: E402
from phaselens.model import ImageModel, Preprocess  # noqa: E402

INDEX_FILES = ("index.html", "data.js", "lens.js", "index.js", "lens.css")


def tiny(classes: int) -> ImageModel:
    torch.manual_seed(0)
    net = nn.Sequential(
        OrderedDict(
            conv=nn.Conv2d(3, 8, 3, stride=2, padding=1),
            relu=nn.ReLU(),
            pool=nn.AdaptiveAvgPool2d(1),
            flat=nn.Flatten(),
            fc=nn.Linear(8, classes),
        )
    )
    names = [f"class number {i}" for i in range(classes)]
    pre = Preprocess((0.5, 0.5, 0.5), (0.25, 0.25, 0.25), (32, 32), 3, source="bench")
    return ImageModel(net, pre, class_names=names, name="bench:tiny").eval()


def replicate(template: Path, lens: Path, classes: int, rng: np.random.Generator) -> None:
    """The template class's concept JSON in every class folder of the lens, and links between them."""
    src = next(template.glob("classes/*/manifest.json")).parent
    names = sorted(p.name for p in (lens / "targets").iterdir())
    rank = len(json.loads((src / "manifest.json").read_text())["concepts"])
    for k, name in enumerate(names):
        folder = lens / "concepts" / "classes" / name
        folder.mkdir(parents=True, exist_ok=True)
        for f in ("importance.json", "strategy.json"):
            shutil.copyfile(src / f, folder / f)
        relations = json.loads((src / "relations.json").read_text())
        relations["alignment"]["classes"] = rng.integers(0, classes, size=(rank, 5)).tolist()
        (folder / "relations.json").write_text(json.dumps(relations))
        manifest = json.loads((src / "manifest.json").read_text())
        manifest.update(name=name, class_id=k, label=f"class number {k}")
        (folder / "manifest.json").write_text(json.dumps(manifest))
    links = [
        dict(cls=k, concept=c, other=int(o), other_concept=int(rng.integers(rank)), cosine=0.9)
        for k in range(len(names))
        for c in range(rank)
        for o in rng.choice(len(names), 3, replace=False)
        if o != k
    ]
    (lens / "concepts" / "links.json").write_text(json.dumps(links))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--classes", type=int, default=1000)
    p.add_argument("--rank", type=int, default=10)
    p.add_argument("--per-class", type=int, default=50)
    p.add_argument("--keep", type=Path, default=None, help="build here and keep it (default: a temporary folder)")
    args = p.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="lens-scale-"))
    lens = work / "lens"
    t = time.time()
    run_lens(tiny(args.classes), lens, "class:all", steps=1, crops=1, image_size=32, progress=False, site=False)
    print(f"lens of {args.classes} classes, 1 step: {time.time() - t:.1f} s", flush=True)
    t = time.time()
    template = work / "template"
    run_concepts(
        load_model("zoo:cnn"), template, "class:0", rank=args.rank, per_class=args.per_class, concept_images=False
    )
    replicate(template, lens, args.classes, np.random.default_rng(0))
    print(f"concept data of {args.classes} classes (from one real class): {time.time() - t:.1f} s", flush=True)
    cmd = [sys.executable, "-m", "phaselens", "lens", "--out", str(lens), "--site-only"]
    t = time.time()
    subprocess.run(cmd, cwd=ROOT, check=True, capture_output=True)
    site_only = time.time() - t
    site = lens / "site"
    index = sum((site / f).stat().st_size for f in INDEX_FILES)
    pages = sorted((site / "pages").glob("*.js"), key=lambda f: f.stat().st_size)
    data = json.loads((site / "data.js").read_text().split(" = ", 1)[1].rstrip().rstrip(";"))
    with_concepts = sum(isinstance(t["concepts"], int) for t in data["targets"])
    print(f"site: {len(data['targets'])} targets, {with_concepts} with concepts, {len(pages)} page files")
    print(f"largest page file: {pages[-1].stat().st_size / 1e3:.1f} kB ({pages[-1].name})")
    print(f"index weight: {index / 1e6:.3f} MB (index.html, data.js, lens.js, index.js, lens.css; target < 1.5 MB)")
    print(f"--site-only: {site_only:.1f} s (target: well under a minute)")
    if args.keep is None:
        shutil.rmtree(work)


if __name__ == "__main__":
    main()
