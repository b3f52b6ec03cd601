"""``package.module:callable`` and ``file.py:callable``: models built by the user's own code.

The callable is called without arguments (or with ``pretrained=`` when it takes
that parameter) and returns an ``nn.Module``, or an `ImageModel` carrying its
own preprocessing. A module object may be named instead of a callable. Naming
user code runs it: that is the point of this spec form.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from pathlib import Path

from torch import nn

from ..errors import PhaseLensError
from ..model import ImageModel, as_image_model
from .checkpoint import load_weights
from .registry import LoadOptions, Spec, spec_forms


def load_module(spec: Spec, options: LoadOptions) -> ImageModel:
    """The ``module`` source: ``spec.target`` is the module, ``spec.attr`` the callable."""
    return _with_weights(load_from_module(spec.target, spec.attr, options.pretrained), options.weights)


def load_pyfile(spec: Spec, options: LoadOptions) -> ImageModel:
    """The ``pyfile`` source: ``spec.target`` is the Python file, ``spec.attr`` the callable."""
    return _with_weights(load_from_file(spec.target, spec.attr, options.pretrained), options.weights)


def _with_weights(model: ImageModel, weights) -> ImageModel:
    if weights is not None:
        load_weights(model.net, weights)
    return model


def load_from_module(module: str, attr: str, pretrained: bool = True) -> ImageModel:
    """Import `module` and build the model from its attribute `attr` (dots allowed)."""
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as err:
        if err.name and module.startswith(err.name):
            raise PhaseLensError(
                f"unknown model spec {module}:{attr}: no scheme or importable module {module!r}; "
                f"valid forms: {spec_forms()}"
            ) from None
        raise
    return _build(mod, attr, f"{module}:{attr}", pretrained)


def load_from_file(path: str | Path, attr: str, pretrained: bool = True) -> ImageModel:
    """Run the Python file `path` as a module and build the model from its attribute `attr`."""
    path = Path(path).expanduser().resolve()
    if not path.is_file():
        raise PhaseLensError(f"no Python file {str(path)!r} (from the model spec {path}:{attr})")
    digest = hashlib.sha1(str(path).encode()).hexdigest()[:8]
    name = f"phaselens_user_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise PhaseLensError(f"cannot import {path} as a Python module")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses and pickling look modules up by name
    folder = str(path.parent)
    sys.path.insert(0, folder)  # so the file can import its neighbours
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    finally:
        if folder in sys.path:
            sys.path.remove(folder)
    return _build(mod, attr, f"{path}:{attr}", pretrained)


def _build(mod, attr: str, label: str, pretrained: bool) -> ImageModel:
    obj = mod
    for part in attr.split("."):
        if not hasattr(obj, part):
            public = [n for n in dir(mod) if not n.startswith("_")]
            raise PhaseLensError(
                f"{label}: {getattr(mod, '__name__', mod)} has no attribute {part!r}; it has: {', '.join(public[:20])}"
            )
        obj = getattr(obj, part)
    if not isinstance(obj, nn.Module):
        if not callable(obj):
            raise PhaseLensError(f"{label} is a {type(obj).__name__}, not a callable returning an nn.Module")
        kwargs = {"pretrained": pretrained} if _takes(obj, "pretrained") else {}
        _check_callable(obj, kwargs, label)
        obj = obj(**kwargs)
    if not isinstance(obj, nn.Module):
        raise PhaseLensError(f"{label} returned a {type(obj).__name__}, not an nn.Module")
    model = as_image_model(obj)
    if not isinstance(obj, ImageModel):
        model.name = label
    for p in model.net.parameters():
        p.requires_grad_(False)
    return model.eval()


def _check_callable(fn, kwargs: dict, label: str) -> None:
    """Refuse a callable that cannot be called as a factory (``os:system``, ``json:loads``) before calling it."""
    try:
        inspect.signature(fn).bind(**kwargs)
    except TypeError as err:
        raise PhaseLensError(
            f"{label} is not a model factory: it cannot be called without arguments ({err}); name a callable "
            "that takes no arguments (or only pretrained=) and returns a torch.nn.Module"
        ) from None
    except ValueError:
        pass  # no signature to read (some builtins): try the call


def _takes(fn, param: str) -> bool:
    try:
        return param in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
