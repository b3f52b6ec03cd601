"""A zoo of small models trained on `phaselens.data.ProceduralShapes`.

The classes are defined by construction (`phaselens.data.CLASS_DEFINITIONS`),
so a feature visualization of, say, ``"vertical_stripes"`` can be checked
against what the class *is*. Three architecture families are shipped, with
weights under ``phaselens/zoo/weights/NAME.safetensors``:

- ``cnn``: a small residual CNN (`SmallResNet`),
- ``vit``: a small ViT with a CLS token (`SmallViT`, ``num_prefix_tokens = 1``),
- ``mixer``: an MLP-Mixer (`SmallMixer`).

Example:
    >>> from phaselens import zoo
    >>> model = zoo.load("cnn")
    >>> model.name, model.input_size, model.class_names[0]
    ('zoo:cnn', (64, 64), 'red_disc')

See ``MODEL_CARD.md`` for the data, training command and test accuracies.
"""

from __future__ import annotations

import json
from pathlib import Path

from safetensors import safe_open
from torch import nn

from ..data import CLASS_NAMES
from ..errors import PhaseLensError
from ..model import ImageModel, Preprocess
from .nets import ARCHITECTURES, SmallMixer, SmallResNet, SmallViT

NAMES: tuple[str, ...] = tuple(ARCHITECTURES)  # the one list is nets.ARCHITECTURES
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
INPUT_SIZE = 64
TRAIN_COMMAND = "python -m phaselens.zoo.train --model all --out phaselens/zoo/weights/"

__all__ = [
    "NAMES",
    "WEIGHTS_DIR",
    "SmallMixer",
    "SmallResNet",
    "SmallViT",
    "build",
    "load",
    "weights_path",
]


def _check_name(name: str) -> str:
    key = str(name).strip().lower()
    key = key.removeprefix("zoo:")
    if key not in NAMES:
        raise PhaseLensError(f"unknown zoo model {name!r}; valid names: {', '.join(NAMES)}")
    return key


def weights_path(name: str, weights_dir: str | Path | None = None) -> Path:
    """Where the weights of zoo model ``name`` live (``WEIGHTS_DIR/NAME.safetensors``)."""
    return Path(weights_dir or WEIGHTS_DIR) / f"{_check_name(name)}.safetensors"


def build(name: str, **config: object) -> nn.Module:
    """A freshly initialized (untrained) network of zoo architecture ``name``.

    Keyword arguments override the architecture's defaults (the shipped sizes).

    Shape:
        - Input: (N, 3, 64, 64) normalized images; Output: (N, 10) logits.
    """
    return ARCHITECTURES[_check_name(name)](num_classes=len(CLASS_NAMES), **config)


def load(name: str, *, weights_dir: str | Path | None = None) -> ImageModel:
    """Load a trained zoo model as an `ImageModel` (eval mode, frozen, CPU, float32).

    Args:
        name: one of `NAMES` (``"zoo:"`` prefix and case are ignored).
        weights_dir: a folder with ``NAME.safetensors``; the shipped weights by default.

    Returns:
        An `ImageModel` that takes [0, 1] images and normalizes them with the
        mean and std the net was trained with; ``class_names`` is
        `phaselens.data.CLASS_NAMES` and ``name`` is ``"zoo:NAME"``. The net
        is ``model.net`` and its layers have plain dotted names (see ``nets``).

    Raises:
        PhaseLensError: for an unknown name (listing the valid ones) or missing weights.

    Shape:
        - Input: (N, 3, 64, 64) in [0, 1]; Output: (N, 10) logits.
    """
    key = _check_name(name)
    path = weights_path(key, weights_dir)
    if not path.is_file():
        raise PhaseLensError(f"no weights for zoo model {key!r} at {path}; train them with: {TRAIN_COMMAND}")
    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
        state = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open is no dict
    arch = meta.get("phaselens.arch", key)
    if arch != key:
        raise PhaseLensError(f"{path} holds a {arch!r} model, not {key!r}")
    config = json.loads(meta.get("phaselens.config", "{}"))
    net = build(key, **config)
    state = {k: (v.float() if v.is_floating_point() else v) for k, v in state.items()}
    net.load_state_dict(state, strict=True)
    net.eval().requires_grad_(False)
    size = int(meta.get("phaselens.input_size", INPUT_SIZE))
    pre = Preprocess(
        mean=tuple(json.loads(meta["phaselens.mean"])),
        std=tuple(json.loads(meta["phaselens.std"])),
        input_size=(size, size),
        channels=3,
        source="zoo",
    )
    model = ImageModel(net, pre, class_names=CLASS_NAMES, name=f"zoo:{key}")
    return model.eval()
