"""Datasets generated on the fly (nothing is downloaded).

`ProceduralShapes` draws ten classes whose visual definition is known by
construction (`CLASS_DEFINITIONS`), which makes it a ground truth for checking
what a feature visualization shows.
"""

from .procedural import (
    CLASS_DEFINITIONS,
    CLASS_HUES,
    CLASS_NAMES,
    DEFAULT_SCALE,
    NUM_CLASSES,
    ProceduralShapes,
    make_batch,
    render,
    sample,
)

__all__ = [
    "CLASS_DEFINITIONS",
    "CLASS_HUES",
    "CLASS_NAMES",
    "DEFAULT_SCALE",
    "NUM_CLASSES",
    "ProceduralShapes",
    "make_batch",
    "render",
    "sample",
]
