"""Model specs -> `ImageModel`: ``zoo:NAME`` (the embedded zoo); more sources in `phaselens.models.sources`."""

from __future__ import annotations

from ..errors import PhaseLensError
from ..model import ImageModel

DEFAULT_MODEL = "zoo:cnn"


def load_model(spec: str | None = None, **options) -> ImageModel:
    """Load a model from a short spec such as ``zoo:cnn``; None gives the default model."""
    spec = spec or DEFAULT_MODEL
    scheme, _, rest = spec.partition(":")
    if scheme == "zoo":
        from .. import zoo

        return zoo.load(rest)
    raise PhaseLensError(f"unknown model spec {spec!r}; valid forms: zoo:NAME")
