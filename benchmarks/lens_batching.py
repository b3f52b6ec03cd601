"""Targets per minute of `run_lens` with batching vs one target at a time.

Both runs make the same targets with the same steps, so the work per target is
equal; only how many targets share a forward/backward pass differs.

    python benchmarks/lens_batching.py                      # zoo:cnn, all 10 classes
    python benchmarks/lens_batching.py --steps 64 --batch 10 --model zoo:cnn --repeats 3
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

from phaselens.lens import run_lens  # noqa: E402
from phaselens.models import load_model  # noqa: E402


def timed(model, targets: str, batch: int, args: argparse.Namespace) -> tuple[float, int]:
    with tempfile.TemporaryDirectory() as out:
        start = time.perf_counter()
        report = run_lens(model, out, targets, batch=batch, steps=args.steps, image_size=args.size, crops=args.crops,
                          progress=False, site=False)
        return time.perf_counter() - start, report.made


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="zoo:cnn")
    p.add_argument("--target", default="class:all")
    p.add_argument("--batch", type=int, default=10, help="targets per batch in the batched run (default 10)")
    p.add_argument("--steps", type=int, default=32)
    p.add_argument("--size", type=int, default=None, help="image side (default: the model's, 146 for the zoo)")
    p.add_argument("--crops", type=int, default=6)
    p.add_argument("--repeats", type=int, default=2, help="runs of each, interleaved; the best counts (default 2)")
    args = p.parse_args()

    model = load_model(args.model)
    print(f"{args.model}, {args.target}, {args.steps} steps, {args.crops} crops, size {args.size or 'default'}; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, {platform.processor() or platform.machine()}")
    timed(model, "class:0", 1, argparse.Namespace(**{**vars(args), "steps": 2}))  # warm-up: allocator, kernels
    configs = ((f"batched (B={args.batch})", args.batch), ("one at a time (B=1)", 1))
    best = {label: float("inf") for label, _ in configs}
    made = 0
    for _ in range(args.repeats):  # interleaved, so a busy neighbour on a shared CPU hits both alike
        for label, batch in configs:
            seconds, made = timed(model, args.target, batch, args)
            best[label] = min(best[label], seconds)
    rates = []
    for label, _ in configs:
        rate = made / best[label] * 60
        rates.append(rate)
        print(f"{label:<22} {made} targets in {best[label]:6.1f} s  -> {rate:6.1f} targets/min")
    print(f"speed-up of batching: {rates[0] / rates[1]:.2f}x (best of {args.repeats})")


if __name__ == "__main__":
    main()
