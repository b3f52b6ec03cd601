"""Small random-init models for the lens tests, loadable from a subprocess.

`tiny()` is deterministic (fixed init seed), so a run in a subprocess and one in
the test process give the same images. The CLI loads it as
``tests/lens_models.py:tiny``; for model loaders without ``file.py:callable``
specs, this module run as a script is the `phaselens` CLI with a spec ``tiny``:

    python tests/lens_models.py lens --model tiny --out DIR ...
"""

from __future__ import annotations

import sys
from collections import OrderedDict
from pathlib import Path

import torch
from torch import nn

# A class name that must come out of the site as text, never as markup.
EVIL_NAME = "<script>alert(1)</script> & \"quotes\" 'x'"
CLASS_NAMES = ["red", "green", EVIL_NAME, "blue_disc", "stripes", "grid"]


def tiny(num_classes: int = len(CLASS_NAMES)):
    """A 2-conv classifier on 32 x 32 inputs with `num_classes` named classes."""
    from phaselens.model import ImageModel, Preprocess

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = nn.Sequential(
            OrderedDict(
                conv1=nn.Conv2d(3, 8, 3, stride=2, padding=1),
                relu1=nn.ReLU(),
                conv2=nn.Conv2d(8, 12, 3, padding=1),
                relu2=nn.ReLU(),
                pool=nn.AdaptiveAvgPool2d(1),
                flat=nn.Flatten(),
                fc=nn.Linear(12, num_classes),
            )
        )
    names = (CLASS_NAMES * (num_classes // len(CLASS_NAMES) + 1))[:num_classes]
    names = [n if i < len(CLASS_NAMES) else f"{n}_{i}" for i, n in enumerate(names)]
    pre = Preprocess((0.5, 0.5, 0.5), (0.25, 0.25, 0.25), (32, 32), 3, source="test")
    return ImageModel(net, pre, class_names=names, name="test:tiny").eval()


def spec() -> str:
    """The model spec the CLI should get: ``/abs/path/tests/lens_models.py:tiny`` when
    `load_model` takes ``file.py:callable``, else ``tiny`` for this module's own entry point."""
    from phaselens.models import load_model

    path_spec = f"{Path(__file__).resolve()}:tiny"
    try:
        load_model(path_spec)
        return path_spec
    except Exception:  # noqa: BLE001 - an older loader (PhaseLensError): use main() below
        return "tiny"


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import phaselens.models
    from phaselens.cli import main as cli_main

    real = phaselens.models.load_model

    def load_model(spec=None, **options):
        return tiny() if spec == "tiny" else real(spec, **options)

    phaselens.models.load_model = load_model
    return cli_main(argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
