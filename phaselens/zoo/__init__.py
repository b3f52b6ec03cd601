"""A zoo of small models trained on procedural images whose classes are known by construction.

Three architecture families trained on `phaselens.data.ProceduralShapes` (the
ten `phaselens.data.CLASS_DEFINITIONS`), so a feature visualization of, say,
``"vertical_stripes"`` can be checked against what the class *is*, and one
CNN trained on `phaselens.data.ProceduralParts` (eight classes, each a pair of
known parts, `phaselens.data.PARTS_CLASS_PARTS`), a ground truth for concept
extraction. Weights live under ``phaselens/zoo/weights/NAME.safetensors``:

- ``cnn``: a small residual CNN (`SmallResNet`),
- ``vit``: a small ViT with a CLS token (`SmallViT`, ``num_prefix_tokens = 1``),
- ``mixer``: an MLP-Mixer (`SmallMixer`),
- ``parts``: a residual CNN with a 32 x 32 grid up to the pool (`PartsResNet`),
  classes `phaselens.data.PARTS_CLASS_NAMES`; concepts live at ``layer3``, whose
  concepts are extracted at positions by default (`DEFAULTS`).

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

from ..data import CLASS_NAMES, PARTS_CLASS_NAMES
from ..errors import PhaseLensError
from ..model import ImageModel, Preprocess
from .nets import ARCHITECTURES, PartsResNet, SmallMixer, SmallResNet, SmallViT

NAMES: tuple[str, ...] = tuple(ARCHITECTURES)  # the one list is nets.ARCHITECTURES
WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
INPUT_SIZE = 64
TRAIN_COMMAND = "python -m phaselens.zoo.train --model all --out phaselens/zoo/weights/"
# Models not trained on the ten shape classes, and their classes.
_OTHER_CLASSES: dict[str, tuple[str, ...]] = {"parts": PARTS_CLASS_NAMES}

__all__ = [
    "NAMES",
    "WEIGHTS_DIR",
    "PartsResNet",
    "SmallMixer",
    "SmallResNet",
    "SmallViT",
    "build",
    "class_names",
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


def class_names(name: str) -> tuple[str, ...]:
    """The classes zoo model ``name`` tells apart, in logit order.

    Example:
        >>> class_names("cnn")[:2], class_names("parts")[:2]
        (('red_disc', 'blue_square'), ('disc_and_stripes', 'disc_and_cross'))
    """
    return _OTHER_CLASSES.get(_check_name(name), CLASS_NAMES)


def build(name: str, **config: object) -> nn.Module:
    """A freshly initialized (untrained) network of zoo architecture ``name``.

    Keyword arguments override the architecture's defaults (the shipped sizes).

    Shape:
        - Input: (N, 3, 64, 64) normalized images; Output: (N, len(class_names(name))) logits.
    """
    return ARCHITECTURES[_check_name(name)](num_classes=len(class_names(name)), **config)


# Tool settings a zoo model recommends (`ImageModel.defaults`). Parts come at one fixed size, and crops
# resized to the input would show the model parts 3.5 times larger than any it was trained on: its
# concepts are extracted at the positions of whole images (the holistic variant) unless told otherwise.
DEFAULTS: dict[str, dict[str, str]] = {"parts": {"concepts.on": "positions"}}


def load(name: str, *, weights_dir: str | Path | None = None) -> ImageModel:
    """Load a trained zoo model as an `ImageModel` (eval mode, frozen, CPU, float32).

    Args:
        name: one of `NAMES` (``"zoo:"`` prefix and case are ignored).
        weights_dir: a folder with ``NAME.safetensors``; the shipped weights by default.

    Returns:
        An `ImageModel` that takes [0, 1] images and normalizes them with the
        mean and std the net was trained with; ``class_names`` is `class_names`
        (`phaselens.data.CLASS_NAMES`, or `phaselens.data.PARTS_CLASS_NAMES`
        for ``parts``) and ``name`` is ``"zoo:NAME"``. The net
        is ``model.net`` and its layers have plain dotted names (see ``nets``).

    Raises:
        PhaseLensError: for an unknown name (listing the valid ones), missing weights,
            or a file made for another model or other classes.

    Shape:
        - Input: (N, 3, 64, 64) in [0, 1]; Output: (N, 10) logits (N, 8 for ``parts``).
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
    classes = class_names(key)
    if json.loads(meta.get("phaselens.class_names", "null")) not in (None, list(classes)):
        raise PhaseLensError(f"{path} was trained on other classes than zoo model {key!r} has")
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
    model = ImageModel(net, pre, class_names=classes, name=f"zoo:{key}", defaults=DEFAULTS.get(key))
    return model.eval()
