"""The benchmark's visualization cache: a key of everything an image depends on, and atomic files.

A cached visualization is reused only when its key matches exactly: the model's
weights and preprocessing, the method and every image setting of the `RunConfig`,
the classes and seeds, the spectrum file's content, the torch version, and a
digest of the source code that makes images (so a change to the optimization
invalidates old entries even when the version number stays the same).
"""

from __future__ import annotations

import hashlib
import io
import json
from pathlib import Path
from typing import Any

import torch

from .._version import __version__
from ..config import IMAGE_FIELDS, RunConfig
from ..io import atomic_write_bytes
from ..model import ImageModel
from ..util import slug

PACKAGE = Path(__file__).resolve().parent.parent
# The code whose changes change images (relative to the package folder).
IMAGE_CODE = (
    "param.py",
    "transforms.py",
    "render.py",
    "color.py",
    "rng.py",
    "fourier.py",
    "objectives.py",
    "config.py",
    "spectrum*.py",
    "spectrum*.json",
    "spectrum/*.py",
    "spectrum/*.json",
    "features/*.py",
)


def file_digest(path: str | Path | None) -> str | None:
    """A short hash of a file's bytes (None for None)."""
    if path is None:
        return None
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def code_digest() -> str:
    """A short hash of the source files that make images (`IMAGE_CODE`)."""
    h = hashlib.sha256()
    for pattern in IMAGE_CODE:
        for f in sorted(PACKAGE.glob(pattern)):
            h.update(f.relative_to(PACKAGE).as_posix().encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def model_digest(model: ImageModel) -> str:
    """A hash of the weights and preprocessing, so retrained weights never reuse a cached image."""
    h = hashlib.sha256(repr((model.name, model.preprocess)).encode())
    for name, t in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(t.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:16]


def cache_key(model: ImageModel, config: RunConfig, classes: list[int], seeds: int) -> dict[str, Any]:
    """Everything a cached visualization depends on."""
    settings = config.manifest()
    key = {k: settings[k] for k in IMAGE_FIELDS}
    if config.method == "maco":
        spectrum = config.spectrum
        key["spectrum"] = file_digest(spectrum) if isinstance(spectrum, (str, Path)) else settings["spectrum"]
    return dict(
        key,
        model=model.name,
        weights=model_digest(model),
        classes=classes,
        seeds=seeds,
        version=__version__,
        torch=torch.__version__,
        code=code_digest(),
    )


def cache_path(folder: Path, model: ImageModel, key: dict[str, Any]) -> Path:
    """The file of one key: model, method and a digest of the key."""
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]
    return folder / f"{slug(model.name, limit=200)}_{key['method']}_{digest}.pt"


def load(path: Path, key: dict[str, Any]) -> dict[str, Any] | None:
    """The cached entry at `path` if it exists and its key matches, else None."""
    if not path.is_file():
        return None
    saved = torch.load(path, weights_only=True)
    return saved if saved.get("key") == json.dumps(key, sort_keys=True) else None


def save(
    path: Path,
    key: dict[str, Any],
    images: torch.Tensor,
    alpha: torch.Tensor,
    targets: list[int],
    seeds: list[int],
    seconds: float,
) -> None:
    """Write one entry atomically; images and alpha in [0, 1] are stored as uint8."""
    buf = io.BytesIO()
    torch.save(
        dict(
            key=json.dumps(key, sort_keys=True),
            images=(images * 255).round().to(torch.uint8),
            alpha=(alpha * 255).round().to(torch.uint8),
            targets=targets,
            seeds=seeds,
            seconds=seconds,
        ),
        buf,
    )
    atomic_write_bytes(path, buf.getvalue())
