"""Model specs -> `ImageModel`, with the preprocessing each source records.

Spec grammar (the CLI's ``--model``, `load_model`'s first argument)::

    zoo:NAME                  a model of the embedded zoo (phaselens.zoo)
    timm:NAME                 timm.create_model(NAME); pretrained through timm's cache
    torchvision:NAME          torchvision.models.get_model(NAME); alias tv:NAME
    hf:REPO_ID | hf:DIR       transformers AutoModelForImageClassification
    PATH.pt | PATH.ts         a TorchScript file (torch.jit.save)
    PATH.pt2                  a torch.export program (torch.export.save)
    package.module:callable   user code returning an nn.Module
    path/to/file.py:callable  the same, from a Python file

Only `torch` is imported here; timm, torchvision and transformers are imported
when a spec names them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import PhaseLensError
from ..model import ImageModel
from .adapt import override
from .checkpoint import load_weights, read_state_dict

DEFAULT_MODEL = "zoo:cnn"
SCHEMES = ("zoo", "timm", "torchvision", "tv", "hf")
SPEC_FORMS = (
    "zoo:NAME, timm:NAME, torchvision:NAME, hf:REPO_ID_OR_DIR, a TorchScript (.pt/.ts) or "
    "torch.export (.pt2) file, package.module:callable, or file.py:callable"
)
MODEL_FILE_SUFFIXES = (".pt", ".ts", ".pt2", ".pth", ".jit", ".torchscript")

__all__ = ["DEFAULT_MODEL", "SPEC_FORMS", "Spec", "parse_spec", "load_model", "load_weights", "read_state_dict"]

_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")


@dataclass(frozen=True)
class Spec:
    """A parsed model spec.

    Attributes:
        kind: ``zoo``, ``timm``, ``torchvision``, ``hf``, ``file``, ``module`` or ``pyfile``.
        target: the name, repository, path or module.
        attr: for ``module`` and ``pyfile``, the callable's name.
    """

    kind: str
    target: str
    attr: str = ""


def parse_spec(spec: str) -> Spec:
    """Split a model spec into its kind and parts; see the module docstring for the forms.

    Raises:
        PhaseLensError: for a spec of no known form, listing the valid ones.
    """
    spec = str(spec).strip()
    scheme, sep, rest = spec.partition(":")
    if sep and scheme in SCHEMES:
        kind = "torchvision" if scheme == "tv" else scheme
        if not rest.strip():
            raise PhaseLensError(f"model spec {spec!r} names no model after '{scheme}:'")
        return Spec(kind, rest.strip())
    if Path(spec).expanduser().is_file():
        return Spec("file", spec)
    left, sep, right = spec.rpartition(":")
    if sep and left and _DOTTED.fullmatch(right):
        if left.endswith(".py"):
            return Spec("pyfile", left, right)
        if _DOTTED.fullmatch(left):
            return Spec("module", left, right)
    if spec.endswith(MODEL_FILE_SUFFIXES) or "/" in spec or "\\" in spec:
        raise PhaseLensError(f"model file {spec!r} does not exist")
    if _DOTTED.fullmatch(spec):  # a bare architecture name
        hint = f" (did you mean timm:{spec} or torchvision:{spec}?)"
    else:
        hint = f" (schemes: {', '.join(SCHEMES)})" if ":" in spec else ""
    raise PhaseLensError(f"unknown model spec {spec!r}{hint}; valid forms: {SPEC_FORMS}")


def load_model(
    spec: str | None = None,
    *,
    pretrained: bool = True,
    weights: str | Path | None = None,
    mean=None,
    std=None,
    input_size=None,
    channels: int | None = None,
) -> ImageModel:
    """Load a model from a spec, with its preprocessing, class names and a short name.

    Args:
        spec: see the module docstring; None gives `DEFAULT_MODEL`.
        pretrained: fetch the source's pretrained weights (timm, torchvision, hf
            repository), from its cache or the network. False: random
            initialization, for trying things out. Offline without a cached
            copy, a request fails at once, saying how to provide weights.
        weights: a weight file (``.safetensors``, or ``.pth``/``.pt``/``.bin`` read
            with ``weights_only=True``) to load into the named architecture
            instead of the pretrained ones. Pickles holding code are refused.
        mean, std: per-channel normalization replacing the source's (sequences,
            numbers, or text ``"0.5,0.5,0.5"``).
        input_size: side or (H, W) to run at; timm ViT/Swin and random HF or
            torchvision ViTs are built for it.
        channels: input channels (timm builds its first layer for it).

    Returns:
        An `ImageModel` in eval mode with frozen weights.

    Raises:
        PhaseLensError: unknown spec or name (with close matches), missing
            optional library (with its pip line), unavailable weights, or a
            weight file that does not fit or is unsafe.

    Example:
        >>> m = load_model("timm:resnet18", pretrained=False, input_size=64)  # doctest: +SKIP
        >>> m.preprocess.mean, m.input_size, m.class_index("goldfish")         # doctest: +SKIP
        ((0.485, 0.456, 0.406), (64, 64), 1)
    """
    parsed = parse_spec(spec or DEFAULT_MODEL)
    kind, target = parsed.kind, parsed.target
    if weights is not None and kind == "file":
        raise PhaseLensError(f"{target} is a full model file; --weights applies to a named architecture")
    if kind == "zoo":
        model = _load_zoo(target, pretrained, weights)
    elif kind == "timm":
        from . import timm_source

        model = timm_source.load(target, pretrained, weights, input_size, channels)
    elif kind == "torchvision":
        from . import torchvision_source

        model = torchvision_source.load(target, pretrained, weights, input_size)
    elif kind == "hf":
        from . import hf_source

        model = hf_source.load(target, pretrained, weights, input_size)
    elif kind == "file":
        from . import files

        model = files.load(target)
    else:
        from . import user

        if kind == "module":
            model = user.load_from_module(target, parsed.attr, pretrained)
        else:
            model = user.load_from_file(target, parsed.attr, pretrained)
        if weights is not None:
            load_weights(model.net, weights)
    if weights is not None:
        model.name = f"{model.name} (weights: {Path(weights).name})"
    return override(model, mean, std, input_size, channels)


def _load_zoo(name: str, pretrained: bool, weights) -> ImageModel:
    from .. import zoo
    from .adapt import finish

    model = zoo.load(name)
    if not pretrained or weights is not None:
        net = zoo.build(name)  # same architecture, fresh weights
        if weights is not None:
            load_weights(net, weights)
        model = finish(net, model.preprocess, model.class_names, model.name)
    return model
