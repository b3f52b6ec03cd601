"""Does MACO's phase standardization cost it benchmark scores? A/B on the zoo.

`MacoParam` (like the reference implementations) standardizes the phase parameter
to zero mean and unit std before use. A phase field with std 1 radian is far from
uniform: E[exp(i phi)] = exp(-1/2) ~ 0.61 at initialization, so ~37% of the image's
energy is a coherent bright peak at pixel (0, 0), i.e. at the four corners, which
centred crops rarely see and so rarely remove. This script measures that peak, then
runs the benchmark for MACO as shipped and for a variant (patched here only) whose
phases are used as they are, drawn with std pi so that they start near uniform.

Usage: python benchmarks/bench_maco_phase.py [--models zoo:cnn] [--steps 128] [--seeds 2]
           [--size 64 --crop-size 0.8,1.0]
"""

from __future__ import annotations

import argparse
import contextlib
import math

import torch

from phaselens import param as param_module
from phaselens.bench import report
from phaselens.bench.data import procedural_reference
from phaselens.bench.run import BenchConfig, run_bench
from phaselens.config import RunConfig
from phaselens.models import load_model


@contextlib.contextmanager
def raw_phase(init_std: float = math.pi):
    """MacoParam without phase standardization, initial phases scaled by `init_std`."""
    original_init, original_spectrum = param_module.MacoParam.__init__, param_module.MacoParam.spectrum

    def init(self, magnitude, phase, width):
        original_init(self, magnitude, phase * init_std, width)

    def spectrum(self):
        phase = param_module.antisymmetrize_phase(self.phase, self.width)
        return torch.polar(self.magnitude.expand_as(phase), phase)

    param_module.MacoParam.__init__, param_module.MacoParam.spectrum = init, spectrum
    try:
        yield
    finally:
        param_module.MacoParam.__init__, param_module.MacoParam.spectrum = original_init, original_spectrum


def corner_peak(size: int = 146) -> tuple[float, float]:
    """Mean brightness in the 10 x 10 corner and the central 20 x 20 of fresh MACO images."""
    from phaselens.rng import SeedGroups

    p = param_module.make_param("maco", SeedGroups(list(range(8))), (size, size))
    with torch.no_grad():
        img = p().mean(1)
    c = size // 2
    return float(img[:, :10, :10].mean()), float(img[:, c - 10 : c + 10, c - 10 : c + 10].mean())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="zoo:cnn")
    p.add_argument("--steps", type=int, default=128)
    p.add_argument("--seeds", type=int, default=2)
    p.add_argument("--size", type=int, default=None)
    p.add_argument("--crop-size", default="0.20,0.30")
    args = p.parse_args()
    print("fresh MACO images, corner vs centre brightness: shipped {:.2f} vs {:.2f}".format(*corner_peak()))
    with raw_phase():
        print("                                              raw phase {:.2f} vs {:.2f}".format(*corner_peak()))
    zoo = {s: load_model(s) for s in ("zoo:cnn", "zoo:vit", "zoo:mixer")}
    models = {s: zoo[s] if s in zoo else load_model(s) for s in args.models.split(",")}
    ref = procedural_reference(50, 64, args.seeds)
    run = RunConfig(
        steps=args.steps, image_size=args.size, crop_size=tuple(float(v) for v in args.crop_size.split(","))
    )
    cfg = BenchConfig(methods=("maco",), seeds=args.seeds, run=run, natural_row=False)
    summaries = []
    for label, ctx in (("maco (shipped)", contextlib.nullcontext()), ("maco (raw phase)", raw_phase())):
        with ctx:
            result = run_bench(models, zoo, ref, cfg, progress=False)
        for row in report.summarize(result.rows):
            row["method"] = label
            summaries.append(row)
    for masked in (False, True):
        print(f"\n{'with' if masked else 'without'} mask\n")
        print(report.markdown_table([r for r in summaries if r["masked"] == masked]))


if __name__ == "__main__":
    main()
