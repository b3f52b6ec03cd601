"""Where a concepts folder keeps each file (see `phaselens.concepts.run` for the layout)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import PhaseLensError
from .importance import Importance

EXTRA = {"scipy": "scipy", "sklearn": "scikit-learn"}  # what the concepts extra installs, by module

MANIFEST = "manifest.json"  # written last in a class folder: the class is complete
CONFIG = "concepts.json"


def class_dir(out: Path, name: str) -> Path:
    """The folder of class `name` in the concepts folder `out`."""
    return Path(out) / "classes" / name


def importance_record(imp: Importance) -> dict[str, Any]:
    """An `Importance` as the JSON of ``importance.json`` (rounded)."""
    return dict(
        per_image=np.round(imp.per_image.numpy(), 5).tolist(),
        mean=np.round(imp.mean.numpy(), 6).tolist(),
        share=np.round(imp.share.numpy(), 6).tolist(),
        logits=np.round(imp.logits.numpy(), 5).tolist(),
        bias=np.round(imp.bias.numpy(), 5).tolist(),
        method=imp.method,
    )


def plain(value: Any) -> Any:
    """JSON values only (numpy scalars and arrays become numbers and lists)."""
    return json.loads(json.dumps(value, default=lambda o: o.tolist() if hasattr(o, "tolist") else str(o)))


def missing_extra() -> list[str]:
    """The packages of the concepts extra that are not installed (Sobol, t-SNE, matching need them)."""
    return [package for module, package in EXTRA.items() if importlib.util.find_spec(module) is None]


def check_extra() -> None:
    """One clear line, before anything is made, when the concepts extra is missing."""
    missing = missing_extra()
    if missing:
        raise PhaseLensError(f"concepts need {' and '.join(missing)}: pip install 'phaselens[concepts]'")
