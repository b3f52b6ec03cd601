"""Targets per minute of `run_lens` with batching vs one target at a time.

Both runs make the same targets with the same steps, so the work per target is
equal; only how many targets share a forward/backward pass differs.

    python benchmarks/lens_batching.py                      # zoo:cnn, all 10 classes
    python benchmarks/lens_batching.py --steps 64 --batch 10 --model zoo:cnn --repeats 3
    python benchmarks/lens_batching.py --device cuda --batch 0          # GPU, batch measured by run_lens
    python benchmarks/lens_batching.py --device cuda --model timm:resnet50 --no-pretrained --target class:0-63 --batch 0

timm and torchvision models need their weights cached, or --no-pretrained.
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from phaselens.lens import run_lens
from phaselens.models import load_model


def timed(model, targets: str, batch: int | None, args: argparse.Namespace) -> tuple[float, int, int]:
    """Seconds, targets made, and the batch used (None: run_lens picks it)."""
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        report = run_lens(
            model,
            out,
            targets,
            batch=batch,
            steps=args.steps,
            image_size=args.size,
            crops=args.crops,
            amp=args.amp,
            progress=False,
            site=False,
        )
        return time.perf_counter() - start, report.made, report.batch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="zoo:cnn")
    p.add_argument("--target", default="class:all")
    p.add_argument(
        "--batch",
        type=int,
        default=10,
        help="targets per batch in the batched run (default 10; 0: run_lens's automatic choice)",
    )
    p.add_argument("--steps", type=int, default=32)
    p.add_argument("--size", type=int, default=None, help="image side (default: the model's, 146 for the zoo)")
    p.add_argument("--crops", type=int, default=6)
    p.add_argument("--repeats", type=int, default=2, help="runs of each, interleaved; the best counts (default 2)")
    p.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default cpu)")
    p.add_argument("--no-pretrained", action="store_true", help="random init (timm/torchvision names)")
    p.add_argument("--amp", action="store_true", help="bf16 autocast (CUDA only)")
    args = p.parse_args()

    device = torch.device(args.device)
    model = load_model(args.model, pretrained=not args.no_pretrained).to(device)
    where = (
        torch.cuda.get_device_name(device)
        if device.type == "cuda"
        else f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}"
    )
    print(
        f"{args.model}, {args.target}, {args.steps} steps, {args.crops} crops, size {args.size or 'default'}"
        f"{', bf16' if args.amp else ''}; torch {torch.__version__}, {where}"
    )
    timed(model, "class:0", 1, argparse.Namespace(**{**vars(args), "steps": 2}))  # warm-up: allocator, kernels
    configs = (("batched", args.batch or None), ("one at a time (B=1)", 1))
    best = {label: float("inf") for label, _ in configs}
    used = {}
    made = 0
    for _ in range(args.repeats):  # interleaved, so a busy neighbour on a shared CPU hits both alike
        for label, batch in configs:
            seconds, made, used[label] = timed(model, args.target, batch, args)
            best[label] = min(best[label], seconds)
    rates = []
    for label, _ in configs:
        rate = made / best[label] * 60
        rates.append(rate)
        name = f"{label} (B={used[label]})" if label == "batched" else label
        print(f"{name:<22} {made} targets in {best[label]:6.1f} s  -> {rate:6.1f} targets/min")
    print(f"speed-up of batching: {rates[0] / rates[1]:.2f}x (best of {args.repeats})")


if __name__ == "__main__":
    main()
