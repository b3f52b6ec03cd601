"""PhaseLens MACO against Horama's (the MACO authors' PyTorch library) and PhaseLens Fourier, at
equal settings, on the embedded zoo.

    pip install "phaselens[vs-horama]"        # horama, and the einops and matplotlib it imports
    python benchmarks/vs_horama.py --reference ../shared/reference/imagenet_magnitude_spectrum.npy
    python benchmarks/vs_horama.py --reference FILE --seeds 1 --steps 64     # a quick look

Horama is given the reference spectrum (`--reference`, the file its code would download) in a
temporary working folder, so it never downloads. Equal settings: 64 px images, `--steps` steps of
NAdam lr 1.0, 6 crops of 0.8-1.0 of the side (Horama's box_size (0.6, 0.8): its code draws sides in
[b1, 2 b1 - b0]), noise 0.05 on [0, 1] pixels (Horama's values_range (0, 1), so its noise is on the
same scale; it adds a uniform noise too), every class of zoo:cnn and zoo:vit, `--seeds` seeds.

Per model and pooled, for each method (with 95% intervals: Wilson for rates, normal for means):
- transfer: the other zoo model classifies the image as its class (the whole image, resized), and
  the same on the centre 90% (the optimization view: the mean crop side);
- objective: the class logit on 16 fixed crops of 0.8-1.0 (`phaselens.evaluate`, seed 0);
- hf power: the share of spectral power above 0.25 cycles/pixel, over that of zoo test images;
- ms/step: per image, batched for PhaseLens (all classes of a seed at once), one image for Horama.
The last line is `transfer: phaselens=X horama=Y fourier=Z n=N` (pooled, whole image).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import phaselens as pl
from phaselens.data import make_batch
from phaselens.transfer import classify, transfer_rate

MODELS = ("zoo:cnn", "zoo:vit")
CROP = (0.8, 1.0)
SIZE = 64


def wilson(k: float, n: int) -> tuple[float, float]:
    if n == 0:
        return (0.0, 0.0)
    p, z = k / n, 1.96
    mid = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (mid - half, mid + half)


def mean_ci(values: np.ndarray) -> str:
    half = 1.96 * values.std(ddof=1) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return f"{values.mean():.3f} ± {half:.3f}"


def hf_share(images: torch.Tensor, cutoff: float = 0.25) -> np.ndarray:
    """Per image, the share of (mean-removed) spectral power above `cutoff` cycles/pixel."""
    x = images - images.mean(dim=(2, 3), keepdim=True)
    power = torch.fft.rfft2(x).abs().pow(2).sum(dim=1)  # (N, H, W//2+1)
    fy = torch.fft.fftfreq(x.shape[2])[:, None]
    fx = torch.fft.rfftfreq(x.shape[3])[None, :]
    high = (fy**2 + fx**2).sqrt() > cutoff
    return (power[:, high].sum(1) / power.flatten(1).sum(1)).numpy()


@contextlib.contextmanager
def horama_folder(reference: Path) -> Iterator[None]:
    """A temporary working folder holding the spectrum under the name Horama looks for."""
    here = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copyfile(reference, Path(tmp) / "spectrum_decorrelated.npy")
        os.chdir(tmp)
        try:
            yield
        finally:
            os.chdir(here)


def run_horama(model, classes: list[int], seed: int, steps: int) -> tuple[torch.Tensor, float]:
    import horama

    images, start = [], time.perf_counter()
    for c in classes:
        torch.manual_seed(seed * 1000 + c)

        def objective(crops: torch.Tensor, c: int = c) -> torch.Tensor:
            return model(crops)[:, c].mean()

        img, _ = horama.maco(
            objective,
            total_steps=steps,
            learning_rate=1.0,
            image_size=SIZE,
            model_input_size=SIZE,
            noise=0.05,
            values_range=(0.0, 1.0),
            crops_per_iteration=6,
            box_size=(2 * CROP[0] - CROP[1], CROP[0]),
            device="cpu",
        )
        images.append(img.detach().clamp(0, 1))
    per_step = (time.perf_counter() - start) / (steps * len(classes))
    return torch.stack(images), per_step


def cached_horama(
    cache: Path | None, reference: Path, spec: str, model, classes: list[int], seed: int, steps: int
) -> tuple[torch.Tensor, float]:
    """Horama's images for one model and seed, from `cache` when there (Horama is seeded, so they repeat)."""
    if cache is None:
        with horama_folder(reference):
            return run_horama(model, classes, seed, steps)
    import horama

    key = hashlib.sha256(reference.read_bytes()).hexdigest()[:12]
    version = getattr(horama, "__version__", "unknown")
    path = cache / f"horama-{version}-{spec.replace(':', '_')}-seed{seed}-steps{steps}-{key}.pt"
    if path.is_file():
        saved = torch.load(path)
        return saved["images"], float(saved["per_step"])
    with horama_folder(reference):
        images, per_step = run_horama(model, classes, seed, steps)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"images": images, "per_step": per_step}, tmp)
    os.replace(tmp, path)
    return images, per_step


def run_phaselens(model, classes: list[int], seed: int, steps: int, method: str) -> tuple[torch.Tensor, float]:
    start = time.perf_counter()
    r = pl.visualize(
        model,
        pl.logit(classes),
        steps=steps,
        image_size=SIZE,
        crops=6,
        crop_size=CROP,
        noise=0.05,
        seed=seed,
        method=method,
    )
    return r.images, (time.perf_counter() - start) / (steps * len(classes))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reference", type=Path, required=True, help="the magnitude spectrum file Horama would download")
    p.add_argument("--steps", type=int, default=256)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--cache", type=Path, default=None, help="keep Horama's images here and reuse them")
    args = p.parse_args()
    if not args.reference.is_file():
        sys.exit(f"--reference {args.reference}: no such file")
    models = {spec: pl.load_model(spec) for spec in MODELS}
    natural = hf_share(make_batch(200, SIZE, seed=4242)[0]).mean()
    methods = ("phaselens", "horama", "fourier")
    rows: dict[tuple[str, str], dict[str, list]] = {}
    for spec, model in models.items():
        other = models[next(s for s in MODELS if s != spec)]
        classes = list(range(len(model.class_names or [])))
        for method in methods:
            acc: dict[str, list] = {"whole": [], "view": [], "objective": [], "hf": [], "ms": [], "hits": []}
            for seed in range(args.seeds):
                if method == "horama":
                    images, per_step = cached_horama(args.cache, args.reference, spec, model, classes, seed, args.steps)
                else:
                    images, per_step = run_phaselens(
                        model, classes, seed, args.steps, "maco" if method == "phaselens" else "fourier"
                    )
                with torch.no_grad():
                    acc["hits"] += (classify(other, images) == torch.tensor(classes)).float().tolist()
                    acc["whole"].append(transfer_rate(other, images, classes) * len(classes))
                    acc["view"].append(transfer_rate(other, images, classes, view=0.9) * len(classes))
                    acc["objective"] += pl.evaluate(
                        model, pl.logit(classes), images, crops=16, seed=0, crop_size=CROP
                    ).tolist()
                acc["hf"] += (hf_share(images) / natural).tolist()
                acc["ms"].append(per_step * 1000)
            rows[(spec, method)] = acc
            n = len(acc["objective"])
            whole, view = sum(acc["whole"]), sum(acc["view"])
            lo, hi = wilson(whole, n)
            print(
                f"{spec} {method:9s}: transfer {whole / n:.2f} [{lo:.2f}, {hi:.2f}] (view {view / n:.2f}), "
                f"objective {mean_ci(np.array(acc['objective']))}, hf power {np.mean(acc['hf']):.2f}x natural, "
                f"{np.mean(acc['ms']):.1f} ms/step, n={n}",
                flush=True,
            )
    pooled = {}
    for method in methods:
        whole = sum(sum(rows[(s, method)]["whole"]) for s in MODELS)
        n = sum(len(rows[(s, method)]["objective"]) for s in MODELS)
        lo, hi = wilson(whole, n)
        pooled[method] = whole / n
        objective = np.concatenate([rows[(s, method)]["objective"] for s in MODELS])
        print(
            f"pooled {method:9s}: transfer {whole / n:.3f} [{lo:.2f}, {hi:.2f}], objective {mean_ci(objective)}, n={n}"
        )
    # Paired by model, seed and class: PhaseLens MACO minus each other method.
    for other_method in ("horama", "fourier"):
        dh, ds = (
            np.concatenate([np.subtract(rows[(s, "phaselens")][k], rows[(s, other_method)][k]) for s in MODELS])
            for k in ("hits", "objective")
        )
        print(f"phaselens - {other_method} (paired): transfer {mean_ci(dh)}, objective {mean_ci(ds)}")
    n = sum(len(rows[(s, "phaselens")]["objective"]) for s in MODELS)
    print("transfer: " + " ".join(f"{m}={pooled[m]:.3f}" for m in ("phaselens", "horama", "fourier")) + f" n={n}")


if __name__ == "__main__":
    main()
