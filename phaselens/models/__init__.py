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

Each form is a `Source` in `phaselens.models.registry`, loaded through one
signature, ``load(spec, options) -> ImageModel``; `register_source` adds a
prefix of one's own (``mine:NAME``).

Only `torch` is imported here; timm, torchvision and transformers are imported
when a spec names them.
"""

from __future__ import annotations

from pathlib import Path

from torch import nn

from ..model import ImageModel, as_image_model
from . import files, hf_source, timm_source, torchvision_source, user, zoo_source
from .adapt import finish, override
from .checkpoint import load_weights, read_state_dict
from .registry import (
    DEFAULT_MODEL,
    MODEL_FILE_SUFFIXES,
    LoadOptions,
    Source,
    Spec,
    add_source,
    get_source,
    parse_spec,
    register_source,
    schemes,
    sources,
    spec_forms,
    unregister_source,
)

# The built-in sources, in the order the list of valid forms gives them.
for _source in (
    Source("zoo", zoo_source.load, form="zoo:NAME"),
    Source("timm", timm_source.load, form="timm:NAME"),
    Source("torchvision", torchvision_source.load, aliases=("tv",), form="torchvision:NAME"),
    Source("hf", hf_source.load, form="hf:REPO_ID_OR_DIR"),
    Source("file", files.load, form="a TorchScript (.pt/.ts) or torch.export (.pt2) file", prefixed=False),
    Source("module", user.load_module, form="package.module:callable", prefixed=False),
    Source("pyfile", user.load_pyfile, form="file.py:callable", prefixed=False),
):
    add_source(_source)
del _source

# The built-in prefixes and forms (`schemes()` and `spec_forms()` include registered ones).
SCHEMES = schemes()
SPEC_FORMS = spec_forms()

__all__ = [
    "DEFAULT_MODEL",
    "MODEL_FILE_SUFFIXES",
    "SCHEMES",
    "SPEC_FORMS",
    "LoadOptions",
    "Source",
    "Spec",
    "get_source",
    "load_model",
    "load_weights",
    "parse_spec",
    "read_state_dict",
    "register_source",
    "schemes",
    "sources",
    "spec_forms",
    "unregister_source",
]


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
    options = LoadOptions(pretrained=pretrained, weights=weights, input_size=input_size, channels=channels)
    model = _as_loaded(get_source(parsed.kind).load(parsed, options), parsed)
    if weights is not None:
        model.name = f"{model.name} (weights: {Path(weights).name})"
    return override(model, mean, std, input_size, channels)


def _as_loaded(model, parsed: Spec) -> ImageModel:
    """A registered loader's result as an `ImageModel`: a plain net is wrapped, frozen and named."""
    if isinstance(model, ImageModel):
        return model
    if not isinstance(model, nn.Module):
        raise TypeError(f"the {parsed.kind!r} model source returned a {type(model).__name__}, not an nn.Module")
    return finish(model, as_image_model(model).preprocess, None, f"{parsed.kind}:{parsed.target}")
