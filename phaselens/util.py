"""Small helpers shared by every output writer: file-safe names and software versions."""

from __future__ import annotations

import platform
import re

import torch

from ._version import __version__


def slug(text: str, limit: int = 60) -> str:
    """A file-safe name: runs of other characters than ``A-Za-z0-9_.-`` become one ``_``.

    Example:
        >>> slug("timm:vit_b/16 (weights: x.pt)")
        'timm_vit_b_16_weights_x.pt'
    """
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_")[:limit] or "x"


def versions() -> dict[str, str]:
    """The versions every manifest records: phaselens, torch, python."""
    return {"phaselens": __version__, "torch": torch.__version__, "python": platform.python_version()}
