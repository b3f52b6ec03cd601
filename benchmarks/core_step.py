"""Time per optimization step: PhaseLens vs a plain forward+backward, and vs Horama.

Prints two ratios, each measured side by side in this one run (runs interleaved,
medians over steps):
1. overhead = PhaseLens MACO step / plain forward+backward (input gradient only)
   of the same crop batch through the same frozen model. Target on CPU <= 1.15.
2. PhaseLens step / Horama step (the reference PyTorch MACO), same model (timm
   resnet18, random init), image 256, input 128, 6 crops. Target <= 0.8.
   Horama is run as its README shows (model in eval mode, weights left
   trainable, so autograd also computes weight gradients) and with the weights
   frozen by hand. Needs `pip install horama einops timm` and the reference
   spectrum in ../shared/reference (Horama otherwise downloads one).

On a GPU (`--device cuda`) each step is timed after a synchronize, and two more
PhaseLens variants run: bf16 autocast (`amp=True`) and channels_last.

Usage: python benchmarks/core_step.py [--steps 12] [--rounds 3] [--image 256] [--input 128] [--crops 6] [--threads N]
                                      [--device cpu|cuda] [--model resnet18] [--reference FILE]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import torch

import phaselens as pl
from phaselens.model import ImageModel, Preprocess, frozen

REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference" / "imagenet_magnitude_spectrum.npy"


def step_times(run, steps: int, device: torch.device) -> list[float]:
    """Run `run(tick)` where tick() is called once per step; per-step seconds after 2 warm-up steps."""
    stamps: list[float] = []

    def tick(*_):
        if device.type == "cuda":
            torch.cuda.synchronize(device)  # GPU work is asynchronous: time it, not its launch
        stamps.append(time.perf_counter())

    run(tick)
    diffs = [b - a for a, b in itertools.pairwise(stamps)]
    return diffs[2:]


def phaselens_run(model: ImageModel, args, **options):
    def run(tick):
        pl.visualize(
            model,
            pl.logit(1),
            steps=args.steps,
            image_size=args.image,
            crops=args.crops,
            crop_size=(0.20, 0.25),
            callback=tick,
            **options,
        )

    return run


def plain_run(model: ImageModel, args):
    def run(tick):
        x = torch.rand(args.crops, 3, args.input, args.input, device=args.device, requires_grad=True)
        with frozen(model):
            for _ in range(args.steps):
                x.grad = None
                model(x)[:, 1].mean().backward()
                tick()

    return run


def horama_run(net: torch.nn.Module, args, freeze: bool):
    import horama

    def objective(images):
        return net(images)[:, 1].mean()

    def run(tick):
        def timed(images):
            tick()
            return objective(images)

        ctx = frozen(net) if freeze else contextlib.nullcontext()
        with ctx:
            net.eval()
            horama.maco(
                timed,
                total_steps=args.steps,
                image_size=args.image,
                model_input_size=args.input,
                crops_per_iteration=args.crops,
                device=str(args.device),
            )

    return run


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds of each variant")
    p.add_argument("--image", type=int, default=256)
    p.add_argument("--input", type=int, default=128)
    p.add_argument("--crops", type=int, default=6)
    p.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--model", default="resnet18", help="timm model name, random init (default resnet18)")
    p.add_argument("--reference", type=Path, default=REFERENCE, help="magnitude file for Horama")
    args = p.parse_args()
    args.device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)

    import timm

    torch.manual_seed(0)
    net = timm.create_model(args.model, pretrained=False).to(args.device)
    model = ImageModel(net, Preprocess(pl.model.IMAGENET_MEAN, pl.model.IMAGENET_STD, (args.input, args.input)))
    variants = {"phaselens": phaselens_run(model, args), "plain fwd+bwd": plain_run(model, args)}
    if args.device.type == "cuda":
        variants["phaselens bf16"] = phaselens_run(model, args, amp=True)
        variants["phaselens ch-last"] = phaselens_run(model, args, channels_last=True)
    workdir = tempfile.mkdtemp()
    try:
        import horama  # noqa: F401

        if args.reference.exists():
            # Horama reads its magnitude file from the working directory.
            shutil.copy(args.reference, Path(workdir) / "spectrum_decorrelated.npy")
            variants["horama"] = horama_run(net, args, freeze=False)
            variants["horama (frozen)"] = horama_run(net, args, freeze=True)
        else:
            print(f"# Horama skipped: {args.reference} is absent")
    except ImportError:
        print("# Horama skipped: pip install horama einops")
    old_cwd = os.getcwd()
    os.chdir(workdir)
    times: dict[str, list[float]] = {k: [] for k in variants}
    try:
        for _ in range(args.rounds):
            for name, run in variants.items():
                times[name] += step_times(run, args.steps, args.device)
    finally:
        os.chdir(old_cwd)
        shutil.rmtree(workdir, ignore_errors=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    where = (
        torch.cuda.get_device_name(args.device) if args.device.type == "cuda" else f"{torch.get_num_threads()} threads"
    )
    print(
        f"# timm {args.model} (random init), image {args.image}, input {args.input}, {args.crops} crops, "
        f"{where}, {args.rounds}x{args.steps} steps"
    )
    for k, v in med.items():
        print(f"{k:>18}: {v * 1000:8.1f} ms/step")
    print(f"overhead (phaselens / plain fwd+bwd): {med['phaselens'] / med['plain fwd+bwd']:.3f}   target <= 1.15")
    if "horama" in med:
        print(f"phaselens / horama:                   {med['phaselens'] / med['horama']:.3f}   target <= 0.8")
        print(f"phaselens / horama (frozen weights):  {med['phaselens'] / med['horama (frozen)']:.3f}")


if __name__ == "__main__":
    main()
