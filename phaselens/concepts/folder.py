"""Where a concepts folder keeps each file (see `phaselens.concepts.run` for the layout)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from .importance import Importance

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
