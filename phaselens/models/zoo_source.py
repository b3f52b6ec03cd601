"""``zoo:NAME``: a model of the embedded zoo (`phaselens.zoo`), trained weights shipped with PhaseLens."""

from __future__ import annotations

from .. import zoo
from ..model import ImageModel
from .adapt import finish
from .checkpoint import load_weights
from .registry import LoadOptions, Spec


def load(spec: Spec, options: LoadOptions) -> ImageModel:
    """Load zoo model ``spec.target`` (``cnn``, ``vit``, ``mixer``, ``parts``; see `phaselens.zoo.NAMES`).

    The shipped weights by default; with ``options.pretrained`` False the same
    architecture with fresh weights, and with ``options.weights`` that file loaded
    into it. Preprocessing and class names are the shipped model's either way.
    """
    model = zoo.load(spec.target)
    if not options.pretrained or options.weights is not None:
        net = zoo.build(spec.target)  # same architecture, fresh weights
        if options.weights is not None:
            load_weights(net, options.weights)
        model = finish(net, model.preprocess, model.class_names, model.name)
    return model
