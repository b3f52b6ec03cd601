"""``torchvision:NAME``: a torchvision classification model, preprocessing from its weights enum."""

from __future__ import annotations

import difflib
import os
from urllib.parse import urlparse

import torch.hub
from torch import nn

from ..errors import PhaseLensError
from ..model import IMAGENET_MEAN, IMAGENET_STD, ImageModel, Preprocess
from . import network
from .adapt import finish, names_for, parse_size
from .checkpoint import load_weights
from .optional import require
from .registry import LoadOptions, Spec


def load(spec: Spec, options: LoadOptions) -> ImageModel:
    """Build torchvision classifier ``spec.target`` (``resnet18``, ``mobilenet_v3_small``, ``swin_t``, ...).

    Weights: ``weights="DEFAULT"`` through torchvision's cache (``torch.hub.get_dir()``)
    when ``options.pretrained``, the file ``options.weights`` when given, random
    otherwise. Mean, std, input size (the crop size) and class names come from the
    DEFAULT weights' transforms and meta, which need no download. An
    ``options.input_size`` is passed on as ``image_size`` to randomly initialized
    architectures that take one (ViTs); ``options.channels`` is not (torchvision
    builds RGB models; `load_model` still records the channel count).
    """
    name, weights = spec.target, options.weights
    tv = require("torchvision", f"torchvision:{name}")
    models = tv.models
    valid = models.list_models(module=models)
    if name not in valid:
        close = difflib.get_close_matches(name, valid, n=5, cutoff=0.6)
        hint = f"; did you mean {', '.join(close)}?" if close else f"; valid: {', '.join(valid)}"
        raise PhaseLensError(f"unknown torchvision classification model {name!r}{hint}")
    default = _default_weights(models, name)
    if options.pretrained and weights is None:
        net = _create_pretrained(models, name, default)
    else:
        net = _create(models, name, parse_size(options.input_size))
        if weights is not None:
            load_weights(net, weights)
    pre, categories = _preprocess(default)
    return finish(net, pre, names_for(_num_classes(net), categories), f"torchvision:{name}")


def _default_weights(models, name: str):
    try:
        return models.get_model_weights(name).DEFAULT
    except (ValueError, AttributeError):
        return None


def _create(models, name: str, size: tuple[int, int] | None) -> nn.Module:
    if size is not None and size[0] == size[1]:
        try:  # ViTs fix their position table to image_size; convolutional nets have no such argument
            return models.get_model(name, weights=None, image_size=size[0])
        except TypeError:
            pass
    return models.get_model(name, weights=None)


def _create_pretrained(models, name: str, default) -> nn.Module:
    what = f"torchvision:{name}"
    if default is None:
        raise network.no_weights(what, "torchvision has no pretrained weights for it")
    cached = os.path.isfile(_cache_path(default.url))
    if not cached and network.is_offline(default.url):
        raise network.no_weights(
            what,
            f"offline, and {os.path.basename(_cache_path(default.url))} "
            f"is not in {os.path.dirname(_cache_path(default.url))}",
        )
    try:
        return models.get_model(name, weights=default)
    except Exception as err:
        if not network.is_download_error(err):
            raise
        raise network.no_weights(what, f"download of {default.url} failed ({err})") from None


def _cache_path(url: str) -> str:
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(urlparse(url).path))


def _preprocess(default) -> tuple[Preprocess, list[str] | None]:
    if default is None:
        return Preprocess(IMAGENET_MEAN, IMAGENET_STD, (224, 224), 3, source="ImageNet defaults"), None
    t = default.transforms()
    side = int(t.crop_size[0])
    pre = Preprocess(tuple(t.mean), tuple(t.std), (side, side), 3, source="torchvision weights transforms")
    return pre, default.meta.get("categories")


def _num_classes(net: nn.Module) -> int | None:
    if isinstance(getattr(net, "num_classes", None), int):  # squeezenet ends in a convolution
        return int(net.num_classes)  # type: ignore[arg-type]
    last = None
    for m in net.modules():
        if isinstance(m, nn.Linear):
            last = m
    return last.out_features if last is not None else None
