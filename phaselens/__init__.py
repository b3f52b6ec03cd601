"""PhaseLens: feature visualization by MACO (magnitude-constrained optimization).

>>> import phaselens as pl
>>> result = pl.visualize(model, pl.logit([1, 2, 3]))      # doctest: +SKIP
>>> result.save("out/")                                     # doctest: +SKIP
"""

from .errors import PhaseLensError
from .io import make_grid, save_grid, save_png, save_rgba, transparency_alpha
from .layers import get_layer, list_layers
from .model import ImageModel, Preprocess, as_image_model
from .models import load_model
from .objectives import Objective, channel, direction, logit, neuron
from .render import DEFAULTS, Result, visualize
from .spectrum import Spectrum, default_spectrum, load_spectrum

__version__ = "0.1.0"

__all__ = [
    "PhaseLensError", "ImageModel", "Preprocess", "as_image_model", "Objective", "channel", "direction",
    "logit", "neuron", "visualize", "Result", "DEFAULTS", "Spectrum", "default_spectrum", "load_spectrum",
    "list_layers", "get_layer", "save_png", "save_rgba", "save_grid", "make_grid", "transparency_alpha",
    "load_model",
]
