"""PhaseLens: feature visualization by MACO (magnitude-constrained optimization).

>>> import phaselens as pl
>>> result = pl.visualize(model, pl.logit([1, 2, 3]))      # doctest: +SKIP
>>> result.save("out/")                                     # doctest: +SKIP
"""

from . import features
from ._version import __version__
from .accentuate import accentuate
from .config import RunConfig
from .errors import PhaseLensError
from .features import get_layer, list_layers
from .io import make_grid, save_grid, save_png, save_rgba, transparency_alpha
from .model import ImageModel, Preprocess, as_image_model
from .models import load_model
from .objectives import Objective, channel, direction, diversity, logit, neuron
from .render import DEFAULTS, Result, evaluate, visualize
from .spectrum import Spectrum, default_spectrum, load_spectrum

__all__ = [
    "DEFAULTS",
    "ImageModel",
    "Objective",
    "PhaseLensError",
    "Preprocess",
    "Result",
    "RunConfig",
    "Spectrum",
    "__version__",
    "accentuate",
    "as_image_model",
    "channel",
    "default_spectrum",
    "direction",
    "diversity",
    "evaluate",
    "features",
    "get_layer",
    "list_layers",
    "load_model",
    "load_spectrum",
    "logit",
    "make_grid",
    "neuron",
    "save_grid",
    "save_png",
    "save_rgba",
    "transparency_alpha",
    "visualize",
]
