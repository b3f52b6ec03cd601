"""Looking inside a model: finding layers, capturing them, their layouts, and reading them as maps.

- `capture`: dotted layer names, `get_layer` (with close matches), `Capture` hooks.
- `probe`: the one throwaway forward pass (`dry_run`), `list_layers`, `layer_outputs`.
- `layout`: how each layer lays out its output (NCHW, NHWC, tokens with prefix and grid).
- `reader`: `spatial` maps of any layout, and `LayerReader`, which every caller uses to
  run a model and hand objectives a `Context`.

>>> import phaselens as pl
>>> model = pl.load_model("zoo:cnn")
>>> [r.name for r in list_layers(model)][:3]
['stem', 'stem.conv', 'stem.bn']
"""

from .capture import Capture, StopForward, first_tensor, get_layer, layer_names
from .layout import Layout, cached_layouts, declared_channels, detect_layouts, prefix_tokens, token_layout
from .probe import LayerInfo, dry_run, layer_outputs, list_layers, model_output, probe_image
from .reader import Context, LayerReader, spatial

__all__ = [
    "Capture",
    "Context",
    "LayerInfo",
    "LayerReader",
    "Layout",
    "StopForward",
    "cached_layouts",
    "declared_channels",
    "detect_layouts",
    "dry_run",
    "first_tensor",
    "get_layer",
    "layer_names",
    "layer_outputs",
    "list_layers",
    "model_output",
    "prefix_tokens",
    "probe_image",
    "spatial",
    "token_layout",
]
