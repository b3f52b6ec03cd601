"""The Lens: every class (or channel) of a model visualized, browsable as a static site.

>>> from phaselens.lens import run_lens, build_site
>>> report = run_lens(model, "lens/", "class:all", steps=128)   # doctest: +SKIP
>>> build_site("lens/")                                          # doctest: +SKIP

`run_lens` is resumable (complete targets are skipped), shardable across
processes (torchrun, Slurm arrays, or ``shard="I/N"``), and deterministic per
target. `build_site` rebuilds ``DIR/site/`` from whatever is complete.
"""

from ..shard import Shard, parse_shard, shard_from_env
from .generate import LensReport, run_lens
from .plan import Target, expand_targets, target_seed
from .site import build_site

__all__ = [
    "LensReport",
    "Shard",
    "Target",
    "build_site",
    "expand_targets",
    "parse_shard",
    "run_lens",
    "shard_from_env",
    "target_seed",
]
