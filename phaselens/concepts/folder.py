"""Where a concepts folder keeps each file (see `phaselens.concepts.run` for the layout)."""

from __future__ import annotations

from pathlib import Path

MANIFEST = "manifest.json"  # written last in a class folder: the class is complete
CONFIG = "concepts.json"


def class_dir(out: Path, name: str) -> Path:
    """The folder of class `name` in the concepts folder `out`."""
    return Path(out) / "classes" / name
