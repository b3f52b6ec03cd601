"""NMF for concept extraction: batched over classes vs one class at a time, and vs scikit-learn.

Prints, measured side by side in this one run (rounds interleaved, medians over rounds):
1. batched = `nmf` on G classes at once (ragged: 80 to 100 % of N crops per class, padded internally)
   vs the same G classes fitted one `nmf` call at a time; the ratio is the speedup of batching.
2. ours per class vs scikit-learn's NMF per class (its defaults: init nndsvda, coordinate descent,
   tol 1e-4, max_iter 200, as CRAFT's reference calls it), with the mean relative error of each, so the
   time is compared at the quality each reaches.

Data: zoo-like activations (post-ReLU mixtures of 32 directions plus noise), float32, C channels, rank R.
Threads default to 1: on a shared 2-core machine a second thread mostly waits (use --threads to change).

Usage: python benchmarks/concepts_nmf.py [--groups 10 100] [--crops 300] [--channels 128] [--rank 10]
                                         [--rounds 2] [--threads 1] [--device cpu|cuda] [--no-sklearn]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import numpy as np
import torch

from phaselens.concepts import nmf


def activations(groups: int, crops: int, channels: int, device: torch.device, seed: int = 0) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    sizes = torch.randint(int(0.8 * crops), crops + 1, (groups,), generator=gen)
    mats = []
    for n in sizes.tolist():
        mix = torch.randn(n, 32, generator=gen) @ torch.randn(32, channels, generator=gen)
        mats.append(torch.relu(mix + 0.3 * torch.randn(n, channels, generator=gen)).to(device))
    return mats


def timed(fn, device: torch.device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    out = fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)  # GPU work is asynchronous: time it, not its launch
    return time.perf_counter() - start, out


def sklearn_fits(mats: list[torch.Tensor], rank: int, threads: int) -> tuple[list[float], int]:
    """scikit-learn's NMF per class: relative errors, and how many fits stopped at max_iter."""
    from sklearn.decomposition import NMF
    from threadpoolctl import threadpool_limits  # a dependency of scikit-learn

    errors: list[float] = []
    with threadpool_limits(threads), warnings.catch_warnings(record=True) as caught:  # BLAS threads as torch's
        warnings.simplefilter("always")
        for A in mats:
            X = A.cpu().numpy()
            model = NMF(rank, max_iter=200)
            U = model.fit_transform(X)
            errors.append(float(np.linalg.norm(X - U @ model.components_) / np.linalg.norm(X)))
    unconverged = sum("converge" in str(w.message).lower() for w in caught)
    return errors, unconverged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, nargs="+", default=[10, 100])
    parser.add_argument("--crops", type=int, default=300)
    parser.add_argument("--channels", type=int, default=128)
    parser.add_argument("--rank", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--no-sklearn", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}")
    print(f"per class: {int(0.8 * args.crops)} to {args.crops} crops × {args.channels} channels, rank {args.rank}")
    nmf(activations(2, args.crops, args.channels, device), args.rank)  # warm-up

    for groups in args.groups:
        mats = activations(groups, args.crops, args.channels, device, seed=groups)
        times: dict[str, list[float]] = {"batched": [], "one at a time": [], "sklearn": []}
        for _ in range(args.rounds):
            t, batch = timed(lambda mats=mats: nmf(mats, args.rank), device)
            times["batched"].append(t)
            t, singles = timed(lambda mats=mats: [nmf(A, args.rank) for A in mats], device)
            times["one at a time"].append(t)
            if not args.no_sklearn:
                t, (sk_errors, late) = timed(lambda mats=mats: sklearn_fits(mats, args.rank, args.threads), device)
                times["sklearn"].append(t)
        med = {k: statistics.median(v) for k, v in times.items() if v}
        ours_err = float(batch.error.mean())
        single_err = float(np.mean([float(f.error) for f in singles]))
        print(f"\nG = {groups} classes (median of {args.rounds} rounds)")
        print(
            f"  batched        {med['batched']:8.3f} s  ({1e3 * med['batched'] / groups:7.1f} ms/class)"
            f"  error {ours_err:.4f}, iterations {batch.n_iter.float().mean():.0f} mean / {int(batch.n_iter.max())} max"
        )
        print(
            f"  one at a time  {med['one at a time']:8.3f} s  ({1e3 * med['one at a time'] / groups:7.1f} ms/class)"
            f"  error {single_err:.4f}"
        )
        print(f"  batching speedup (one at a time / batched): {med['one at a time'] / med['batched']:.2f}×")
        if "sklearn" in med:
            print(
                f"  sklearn        {med['sklearn']:8.3f} s  ({1e3 * med['sklearn'] / groups:7.1f} ms/class)"
                f"  error {np.mean(sk_errors):.4f}, {late}/{groups} hit max_iter"
            )
            print(f"  ours batched / sklearn time: {med['batched'] / med['sklearn']:.2f}×")


if __name__ == "__main__":
    main()
