"""The feature-visualization benchmark: plausibility, FID and transferability.

>>> from phaselens.bench import BenchConfig, run_bench, procedural_reference   # doctest: +SKIP
>>> models = {s: load_model(s) for s in ("zoo:cnn", "zoo:vit")}               # doctest: +SKIP
>>> result = run_bench(models, models, procedural_reference(50), BenchConfig(steps=64))  # doctest: +SKIP

See docs/benchmark.md for the definitions, and `phaselens bench --help`.
"""

from .data import Reference, folder_reference, procedural_reference, write_image_folder
from .features import features, find_head
from .metrics import (
    apply_mask,
    class_similarity,
    cosine_matrix,
    fid,
    frechet_distance,
    pca_basis,
    plausibility,
    transferability,
)
from .report import markdown_report, summarize, to_csv
from .run import BenchConfig, BenchResult, run_bench

__all__ = [
    "BenchConfig",
    "BenchResult",
    "Reference",
    "apply_mask",
    "class_similarity",
    "cosine_matrix",
    "features",
    "fid",
    "find_head",
    "folder_reference",
    "frechet_distance",
    "markdown_report",
    "pca_basis",
    "plausibility",
    "procedural_reference",
    "run_bench",
    "summarize",
    "to_csv",
    "transferability",
    "write_image_folder",
]
