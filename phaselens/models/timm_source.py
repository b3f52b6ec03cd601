"""``timm:NAME``: any `timm.create_model` name, preprocessing from its pretrained config."""

from __future__ import annotations

import difflib
import os

import torch.hub
from torch import nn

from ..errors import PhaseLensError
from ..model import ImageModel, Preprocess
from . import network
from .adapt import finish, names_for, parse_size
from .checkpoint import load_weights
from .optional import require
from .registry import LoadOptions, Spec


def load(spec: Spec, options: LoadOptions) -> ImageModel:
    """Build timm model ``spec.target`` (``resnet18``, ``vit_tiny_patch16_224.augreg_in21k``, ...).

    Weights: timm's own download and cache when ``options.pretrained``, the file
    ``options.weights`` when given, random otherwise. An ``options.input_size`` is
    passed on as ``img_size`` to architectures that take one (ViTs, Swin), so their
    position tables fit it, and ``options.channels`` as ``in_chans``. Mean, std and
    size come from ``timm.data.resolve_model_data_config``, and ImageNet class
    names from ``timm.data.ImageNetInfo`` when the head fits.
    """
    name, weights, channels = spec.target, options.weights, options.channels
    timm = require("timm", f"timm:{name}")
    if not name or not timm.is_model(name):
        raise PhaseLensError(f"unknown timm model {name!r}{_suggest(timm, name)}")
    kwargs: dict = {}
    size = parse_size(options.input_size)
    if size is not None:
        kwargs["img_size"] = size
    if channels:
        kwargs["in_chans"] = int(channels)
    fetch = options.pretrained and weights is None
    if fetch:
        net = _create_pretrained(timm, name, kwargs)
    else:
        net = _create(timm, name, False, kwargs)
    if weights is not None:
        load_weights(net, weights)
    return finish(net, _preprocess(timm, net), _class_names(timm, net), f"timm:{name}")


def _create(timm, name: str, pretrained: bool, kwargs: dict) -> nn.Module:
    try:
        return timm.create_model(name, pretrained=pretrained, **kwargs)
    except TypeError as err:
        if "img_size" not in str(err):
            raise
        # Convolutional nets take any size and have no img_size argument.
        kwargs = {k: v for k, v in kwargs.items() if k != "img_size"}
        return timm.create_model(name, pretrained=pretrained, **kwargs)


def _create_pretrained(timm, name: str, kwargs: dict) -> nn.Module:
    cfg = timm.models.get_pretrained_cfg(name)
    hub_id = getattr(cfg, "hf_hub_id", None) if cfg is not None else None
    url = getattr(cfg, "url", None) if cfg is not None else None
    if cfg is None or not (hub_id or url or getattr(cfg, "file", None)):
        raise network.no_weights(f"timm:{name}", "timm lists no pretrained weights for this name")
    offline = network.is_offline(network.hf_endpoint() if hub_id else url or "")
    if offline and not hub_id and url and not _url_cached(url):
        raise network.no_weights(f"timm:{name}", f"offline, and {url} is not in the torch hub cache")
    try:
        with network.hub_offline(offline):
            return _create(timm, name, True, kwargs)
    except Exception as err:
        if not network.is_download_error(err):
            raise
        where = (
            "offline, and the weights are not in the Hugging Face cache"
            if offline
            else f"download failed ({_first_line(err)})"
        )
        raise network.no_weights(f"timm:{name}", where) from None


def _url_cached(url: str) -> bool:
    return os.path.isfile(os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(url.split("?")[0])))


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:200] if text else type(err).__name__


def _preprocess(timm, net: nn.Module) -> Preprocess:
    cfg = timm.data.resolve_model_data_config(net)
    size = tuple(cfg.get("input_size", (3, 224, 224)))
    return Preprocess(cfg["mean"], cfg["std"], size[-2:], int(size[0]), source="timm pretrained config")


def _class_names(timm, net: nn.Module) -> list[str] | None:
    try:
        subset = timm.data.infer_imagenet_subset(net)
        if not subset:
            return None
        info = timm.data.ImageNetInfo(subset)
        # "goldfish, Carassius auratus" -> "goldfish": short names make `class:goldfish` and file names work.
        names = [info.index_to_description(i).split(",")[0].strip() for i in range(info.num_classes())]
    except Exception:  # noqa: BLE001 - class names are a convenience
        return None
    return names_for(getattr(net, "num_classes", None), names)


def _suggest(timm, name: str) -> str:
    close = difflib.get_close_matches(name, timm.list_models(), n=5, cutoff=0.6)
    return f"; did you mean {', '.join(close)}?" if close else " (list them with timm.list_models())"
