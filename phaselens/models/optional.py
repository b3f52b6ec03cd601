"""Lazy imports of the optional model libraries (timm, torchvision, transformers).

`import phaselens` imports none of them; a model source imports its library
only when a spec asks for it, and a missing one is named with its install line.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ..errors import PhaseLensError

# library module -> the phaselens extra that installs it
EXTRAS = {"timm": "timm", "torchvision": "torchvision", "transformers": "hf"}


def require(module: str, what: str) -> ModuleType:
    """Import `module`, or fail with the pip line that installs it.

    Args:
        module: the library's import name, e.g. ``"timm"``.
        what: what needed it, for the message (e.g. ``"timm:resnet18"``).
    """
    try:
        return importlib.import_module(module)
    except ImportError as err:
        top = module.split(".")[0]
        extra = EXTRAS.get(top, top)
        raise PhaseLensError(
            f"{what} needs the {top!r} package ({err}); install it with: pip install 'phaselens[{extra}]'"
        ) from None
