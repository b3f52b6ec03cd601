"""The model sources a spec can name, and the spec grammar read from them.

Each source is a `Source` record: a name (the spec's prefix and `Spec.kind`),
its aliases, the text that describes its form in error messages, and a loader
with one signature for every source::

    load(spec: Spec, options: LoadOptions) -> ImageModel

The built-in sources (``zoo``, ``timm``, ``torchvision``/``tv``, ``hf``, and the
prefix-less ``file``, ``module`` and ``pyfile`` forms) are registered by
``phaselens.models``; `register_source` adds a prefix of one's own::

    from phaselens.models import register_source

    def load_mine(spec, options):       # spec.target is the text after "mine:"
        return build_my_net(spec.target, pretrained=options.pretrained)

    register_source("mine", load_mine)  # now load_model("mine:big") works

This module imports no model library: a loader imports its own when called.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import PhaseLensError
from ..model import ImageModel

DEFAULT_MODEL = "zoo:cnn"
MODEL_FILE_SUFFIXES = (".pt", ".ts", ".pt2", ".pth", ".jit", ".torchscript")

_DOTTED = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*")
# Two characters at least, so that a Windows drive (C:\...) is never read as a prefix.
_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Spec:
    """A parsed model spec.

    Attributes:
        kind: the source's name: ``zoo``, ``timm``, ``torchvision``, ``hf``, ``file``,
            ``module``, ``pyfile``, or a registered prefix.
        target: the name, repository, path or module.
        attr: for ``module`` and ``pyfile``, the callable's name.
    """

    kind: str
    target: str
    attr: str = ""


@dataclass(frozen=True)
class LoadOptions:
    """What `load_model` asks of a source, besides the spec.

    Attributes:
        pretrained: fetch the source's pretrained weights; False: random initialization.
        weights: a weight file to load into the architecture instead (None: none).
        input_size: the size to build for (int, (H, W) or text), or None.
        channels: input channels to build for, or None.
    """

    pretrained: bool = True
    weights: str | Path | None = None
    input_size: object = None
    channels: int | None = None


Loader = Callable[[Spec, LoadOptions], ImageModel]


@dataclass(frozen=True)
class Source:
    """One way of naming a model.

    Attributes:
        name: the spec prefix (``timm`` in ``timm:resnet18``) and the `Spec.kind`.
        load: ``load(spec, options) -> ImageModel``; it loads ``options.weights``
            when given and may return a plain ``nn.Module`` (then wrapped by `load_model`).
        aliases: other prefixes for the same source (``tv`` for ``torchvision``).
        form: how the form reads in the list of valid specs (``timm:NAME``).
        prefixed: False for the forms recognised by their shape (files, user code).
    """

    name: str
    load: Loader
    aliases: tuple[str, ...] = ()
    form: str = ""
    prefixed: bool = True


_SOURCES: dict[str, Source] = {}  # name -> source, in registration order
_PREFIXES: dict[str, str] = {}  # prefix or alias -> source name


def add_source(source: Source, *, replace: bool = False) -> Source:
    """Register `source` (the record form of `register_source`); see there."""
    names = (source.name, *source.aliases) if source.prefixed else (source.name,)
    for name in names:
        if source.prefixed and not _PREFIX.fullmatch(name):
            raise ValueError(f"model source prefix {name!r}: use two or more letters, digits, '_' or '-'")
        owner = _PREFIXES.get(name) or (name if name in _SOURCES else None)
        if owner is not None and not (replace and owner == source.name):
            raise ValueError(f"model source {name!r} is already registered (by {owner!r}); pass replace=True")
    old = _SOURCES.get(source.name)
    if old is not None:
        for alias in (old.name, *old.aliases):
            _PREFIXES.pop(alias, None)
    _SOURCES[source.name] = source
    if source.prefixed:
        for name in names:
            _PREFIXES[name] = source.name
    return source


def register_source(
    name: str,
    load: Loader,
    *,
    aliases: tuple[str, ...] | list[str] = (),
    form: str | None = None,
    replace: bool = False,
) -> Source:
    """Make ``NAME:...`` specs load through `load`.

    Args:
        name: the prefix, two or more letters, digits, ``_`` or ``-``. It takes
            precedence over a user module of the same name (``name:callable``).
        load: ``load(spec, options)`` with ``spec.target`` the text after the
            prefix and ``options`` a `LoadOptions`; returns an `ImageModel`
            (or an ``nn.Module``, wrapped with the preprocessing `as_image_model` reads).
            It should load ``options.weights`` when given (`load_weights`).
        aliases: more prefixes for the same source.
        form: its entry in the list of valid forms; ``NAME:NAME`` by default.
        replace: allow replacing a source of the same name (a built-in one too).

    Returns:
        The registered `Source`.

    Raises:
        ValueError: a malformed prefix, or one taken by another source.
        TypeError: `load` is not callable.
    """
    if not callable(load):
        raise TypeError(f"model source {name!r}: load must be callable, got {type(load).__name__}")
    source = Source(str(name), load, tuple(str(a) for a in aliases), form or f"{name}:NAME")
    return add_source(source, replace=replace)


def unregister_source(name: str) -> Source:
    """Remove the source `name` (and its aliases); returns it.

    Raises:
        ValueError: no source of that name.
    """
    source = _SOURCES.pop(name, None)
    if source is None:
        raise ValueError(f"no model source {name!r}; registered: {', '.join(_SOURCES)}")
    for alias in (source.name, *source.aliases):
        if _PREFIXES.get(alias) == name:
            del _PREFIXES[alias]
    return source


def get_source(kind: str) -> Source:
    """The source a `Spec.kind` names."""
    try:
        return _SOURCES[kind]
    except KeyError:
        raise PhaseLensError(f"no model source {kind!r}; registered: {', '.join(_SOURCES)}") from None


def sources() -> tuple[Source, ...]:
    """Every registered source, in registration order."""
    return tuple(_SOURCES.values())


def schemes() -> tuple[str, ...]:
    """The spec prefixes, aliases included (``zoo``, ``timm``, ``torchvision``, ``tv``, ``hf``, ...)."""
    return tuple(_PREFIXES)


def spec_forms() -> str:
    """The valid spec forms, for error messages: prefixed ones first, then files and user code."""
    forms = [s.form for s in _SOURCES.values() if s.prefixed] + [s.form for s in _SOURCES.values() if not s.prefixed]
    if len(forms) < 2:
        return "".join(forms)
    return f"{', '.join(forms[:-1])}, or {forms[-1]}"


def parse_spec(spec: str) -> Spec:
    """Split a model spec into its kind and parts; see ``phaselens.models`` for the forms.

    Raises:
        PhaseLensError: for a spec of no known form, listing the valid ones.
    """
    spec = str(spec).strip()
    scheme, sep, rest = spec.partition(":")
    if sep and scheme in _PREFIXES:
        if not rest.strip():
            raise PhaseLensError(f"model spec {spec!r} names no model after '{scheme}:'")
        return Spec(_PREFIXES[scheme], rest.strip())
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
        hint = f" (schemes: {', '.join(schemes())})" if ":" in spec else ""
    raise PhaseLensError(f"unknown model spec {spec!r}{hint}; valid forms: {spec_forms()}")
