"""Datasets generated on the fly (nothing is downloaded).

`ProceduralShapes` draws ten classes whose visual definition is known by
construction (`CLASS_DEFINITIONS`), which makes it a ground truth for checking
what a feature visualization shows. `ProceduralParts` draws eight classes, each
a pair of known parts (`PARTS_CLASS_PARTS`) plus a distractor in half the
images, and returns every part's mask: a ground truth for concept extraction.
"""

from .parts import (
    DISTRACTOR,
    DISTRACTOR_P,
    NUM_PARTS_CLASSES,
    PART_CLASSES,
    PART_NAMES,
    PARTS_CLASS_DEFINITIONS,
    PARTS_CLASS_NAMES,
    PARTS_CLASS_PARTS,
    ProceduralParts,
    make_parts_batch,
    render_parts,
    sample_parts,
)
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
    "DISTRACTOR",
    "DISTRACTOR_P",
    "NUM_CLASSES",
    "NUM_PARTS_CLASSES",
    "PARTS_CLASS_DEFINITIONS",
    "PARTS_CLASS_NAMES",
    "PARTS_CLASS_PARTS",
    "PART_CLASSES",
    "PART_NAMES",
    "ProceduralParts",
    "ProceduralShapes",
    "make_batch",
    "make_parts_batch",
    "render",
    "render_parts",
    "sample",
    "sample_parts",
]
