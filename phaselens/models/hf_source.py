"""``hf:REPO_ID`` or ``hf:LOCAL_DIR``: a transformers image classifier and its image processor.

The model is built by ``AutoModelForImageClassification``; mean, std and input
size come from the saved image processor (``preprocessor_config.json``), class
names from ``config.id2label``. Code shipped with a repository is never run
(no ``trust_remote_code``).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from pathlib import Path

from torch import nn

from ..errors import PhaseLensError
from ..model import ImageModel, Preprocess
from . import network
from .adapt import finish, names_for, parse_size
from .checkpoint import load_weights
from .optional import require
from .registry import LoadOptions, Spec


def load(spec: Spec, options: LoadOptions) -> ImageModel:
    """Load Hugging Face model ``spec.target``, a Hub repository id or a folder from ``save_pretrained``.

    ``options.pretrained`` loads the saved weights (downloading a repository
    through the Hugging Face cache); False builds the architecture from its config
    with random weights; ``options.weights`` loads a state-dict file instead. An
    ``options.input_size`` other than the config's is passed on to a random
    model's config, or to a pretrained ViT-like model as ``interpolate_pos_encoding=True``.
    """
    ref, weights = spec.target, options.weights
    transformers = require("transformers", f"hf:{ref}")
    if not ref:
        raise PhaseLensError("hf: needs a Hub repository id or a local folder, e.g. hf:google/vit-base-patch16-224")
    local = Path(ref).expanduser().is_dir()
    if not local and (ref.startswith((".", "/", "~")) or ref.count("/") > 1 or "\\" in ref):
        raise PhaseLensError(f"no folder {ref!r} for hf:; give a save_pretrained folder or a Hub id like org/name")
    source = str(Path(ref).expanduser()) if local else ref
    what = f"hf:{ref}"
    fetch = options.pretrained and weights is None
    offline = False
    if not local:
        offline = network.is_offline(network.hf_endpoint())
    size = parse_size(options.input_size)
    with network.hub_offline(offline), _quiet(transformers):
        try:
            config = transformers.AutoConfig.from_pretrained(source, local_files_only=offline)
            if size is not None and not fetch and hasattr(config, "image_size"):
                config.image_size = size[0] if size[0] == size[1] else list(size)
            if fetch:
                net = transformers.AutoModelForImageClassification.from_pretrained(
                    source, config=config, local_files_only=offline
                )
            else:
                net = transformers.AutoModelForImageClassification.from_config(config)
            processor = _processor(transformers, source, offline)
        except PhaseLensError:
            raise
        except (OSError, ValueError, KeyError) as err:
            if not local and (offline or network.is_download_error(err)):
                reason = (
                    "offline, and it is not in the Hugging Face cache"
                    if offline
                    else f"download failed ({_first_line(err)})"
                )
                if fetch:
                    raise network.no_weights(what, reason) from None
                raise PhaseLensError(
                    f"cannot load the config of {what}: {reason}; save it with "
                    "save_pretrained and give the folder (hf:DIR)"
                ) from None
            raise PhaseLensError(f"cannot load {what}: {_first_line(err)}") from None
    if weights is not None:
        load_weights(net, weights)
    pre = _preprocess(processor, config)
    if size is not None and fetch and _config_size(config) not in (None, size):
        _interpolate_positions(net, what)
    names = _class_names(config)
    return finish(net, pre, names_for(getattr(config, "num_labels", None), names), what)


@contextlib.contextmanager
def _quiet(transformers):
    """No per-tensor "Loading weights" bar: PhaseLens shows its own progress."""
    logging = transformers.utils.logging
    was = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            logging.enable_progress_bar()


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return text.splitlines()[0][:200] if text else type(err).__name__


def _processor(transformers, source: str, offline: bool):
    try:
        return transformers.AutoImageProcessor.from_pretrained(source, local_files_only=offline)
    except (OSError, ValueError, KeyError):
        return None  # no preprocessor_config.json: fall back to the config, see _preprocess


def _config_size(config) -> tuple[int, int] | None:
    size = getattr(config, "image_size", None)
    if isinstance(size, int):
        return size, size
    if isinstance(size, (list, tuple)) and len(size) == 2:
        return int(size[0]), int(size[1])
    return None


def _processor_size(processor) -> tuple[int, int] | None:
    """The size the processor hands the model: its crop when it crops, else its resize."""
    for attr in ("crop_size", "size"):
        if attr == "crop_size" and not getattr(processor, "do_center_crop", False):
            continue
        value = getattr(processor, attr, None)
        if value is None:
            continue
        get = value.get if hasattr(value, "get") else lambda k, v=value: getattr(v, k, None)
        h, w = get("height"), get("width")
        if h and w:
            return int(h), int(w)
        edge = get("shortest_edge")
        if edge:
            return int(edge), int(edge)
        if isinstance(value, int):
            return value, value
    return None


def _preprocess(processor, config) -> Preprocess:
    chans = int(getattr(config, "num_channels", 3) or 3)
    size = _config_size(config) or (224, 224)
    if processor is None:
        return Preprocess(
            (0.0,) * chans, (1.0,) * chans, size, chans, source="hf config (no image processor: identity normalization)"
        )
    mean = getattr(processor, "image_mean", None)
    std = getattr(processor, "image_std", None)
    if not getattr(processor, "do_normalize", True) or mean is None or std is None:
        mean, std = (0.0,) * chans, (1.0,) * chans
    size = _processor_size(processor) or size
    return Preprocess(tuple(mean), tuple(std), size, chans, source=f"hf {type(processor).__name__}")


def _interpolate_positions(net: nn.Module, what: str) -> None:
    """Run a pretrained ViT-like model at another size by interpolating its position embeddings."""
    if "interpolate_pos_encoding" not in inspect.signature(net.forward).parameters:
        raise PhaseLensError(f"{what} runs at its config's image size only; leave --input-size out")
    net.forward = functools.partial(net.forward, interpolate_pos_encoding=True)


def _class_names(config) -> list[str] | None:
    id2label = getattr(config, "id2label", None) or {}
    try:
        items = sorted((int(k), str(v)) for k, v in id2label.items())
    except (TypeError, ValueError):
        return None
    if [k for k, _ in items] != list(range(len(items))):
        return None
    return [v for _, v in items]
