"""A model file given as the spec: TorchScript (``torch.jit.save``) or ``torch.export`` (``.pt2``).

Both formats hold the architecture as compiled code or graphs, not pickled
Python objects. Either may carry a ``phaselens.json`` extra file with
``mean``, ``std``, ``input_size`` and ``class_names``; otherwise the model gets
[0, 1] images (identity normalization) at 224 x 224, or at the size an
exported program was traced for. Override with ``--mean/--std/--input-size``.

TorchScript runs compiled code that PyTorch cannot hook, so its layers cannot
be captured: class targets work, layer targets need a ``.pt2`` export or the
architecture with ``--weights``.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import torch
from torch import nn

from ..errors import PhaseLensError
from ..model import ImageModel, Preprocess
from .adapt import finish
from .registry import LoadOptions, Spec

EXTRA = "phaselens.json"
TORCHSCRIPT_HINT = (
    "layers of a TorchScript model cannot be captured (its compiled code runs without Python hooks); "
    "use class targets, or give the model as a torch.export program (.pt2) or as an architecture "
    "with --weights FILE"
)


def kind_of(path: Path) -> str:
    """``"torchscript"``, ``"export"`` or ``"weights"``, read from the archive's contents."""
    if path.suffix == ".safetensors":
        return "weights"
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return "weights"  # a legacy pickle: torch.save without the zip format
    tails = {n.split("/", 1)[-1] for n in names}
    if "archive_format" in tails or any(t.startswith("models/") for t in tails):
        return "export"
    if "constants.pkl" in tails or any(t.startswith("code/") for t in tails):
        return "torchscript"
    return "weights"


def load(spec: Spec, options: LoadOptions) -> ImageModel:
    """Load the TorchScript or ``torch.export`` file ``spec.target`` as an `ImageModel`.

    The file holds its own weights: ``options.weights`` is refused, and
    ``options.pretrained`` and the sizes do not apply (`load_model` still
    records an input size or channel count given).
    """
    if options.weights is not None:
        raise PhaseLensError(f"{spec.target} is a full model file; --weights applies to a named architecture")
    return load_file(spec.target)


def load_file(path: str | Path) -> ImageModel:
    """Load a TorchScript or ``torch.export`` file as an `ImageModel`."""
    path = Path(path)
    kind = kind_of(path)
    if kind == "weights":
        raise PhaseLensError(
            f"{path} holds weights only, no architecture; name the architecture and pass the file as "
            f"weights, e.g. --model timm:resnet18 --weights {path}"
        )
    if kind == "torchscript":
        net, extra = _load_torchscript(path)
        default_size, chans = (224, 224), None
    else:
        net, extra, shape = _load_export(path)
        default_size = tuple(shape[-2:]) if shape and all(isinstance(s, int) for s in shape[-2:]) else (224, 224)
        chans = shape[1] if shape and isinstance(shape[1], int) else None
    pre, names = _preprocess(extra, default_size, chans)
    return finish(net, pre, names, str(path))


def _load_torchscript(path: Path):
    files = {EXTRA: ""}
    try:
        net = torch.jit.load(str(path), map_location="cpu", _extra_files=files)
    except RuntimeError as err:
        raise PhaseLensError(f"cannot load TorchScript {path}: {str(err).splitlines()[0]}") from None
    _refuse_hooks(net)
    return net, files[EXTRA]


def _refuse_hooks(net: nn.Module) -> None:
    # ScriptModules raise a bare RuntimeError on hooks; make it the one-line message the CLI prints.
    def refuse(*_args, **_kwargs):
        raise PhaseLensError(TORCHSCRIPT_HINT)

    for _, module in net.named_modules():
        module.register_forward_hook = refuse
        module.register_forward_pre_hook = refuse


class ExportedNet(nn.Module):
    """An unflattened ``torch.export`` program, keeping the original dotted layer names.

    Its train/eval switch is a no-op: an exported program is traced in one mode.
    """

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.__dict__["_program"] = module  # not a child: its names should appear at the top
        for name, child in module.named_children():
            self.add_module(name, child)
        for name, param in module.named_parameters(recurse=False):  # e.g. a ViT's cls_token
            self.register_parameter(name, param)
        for name, buf in module.named_buffers(recurse=False):
            self.register_buffer(name, buf)

    def forward(self, *args, **kwargs):
        return self._program(*args, **kwargs)  # type: ignore[operator]

    def train(self, mode: bool = True):
        self.training = mode
        return self

    def _apply(self, fn, recurse=True):
        self._program._apply(fn, recurse)  # type: ignore[union-attr]
        return self


def _load_export(path: Path):
    files = {EXTRA: ""}
    try:
        program = torch.export.load(str(path), extra_files=files)
    except Exception as err:  # noqa: BLE001 - torch.export raises many types for a bad file
        raise PhaseLensError(f"cannot load torch.export program {path}: {str(err).splitlines()[0]}") from None
    shape = _input_shape(program)
    if shape is not None and isinstance(shape[0], int):
        raise PhaseLensError(
            f"{path} was exported for a fixed batch of {shape[0]}; PhaseLens runs many crops at once. "
            "Export with a dynamic batch: torch.export.export(model, (x,), "
            "dynamic_shapes={'x': {0: torch.export.Dim('batch')}})"
        )
    return ExportedNet(torch.export.unflatten(program)), files[EXTRA], shape


def _input_shape(program) -> list | None:
    """The first user input's shape: ints where fixed, None where dynamic."""
    inputs = [n for n in program.graph.nodes if n.op == "placeholder"]
    users = set(program.graph_signature.user_inputs)
    for node in inputs:
        if node.name in users:
            val = node.meta.get("val")
            if val is None:
                return None
            return [int(s) if isinstance(s, int) else None for s in val.shape]
    return None


def _preprocess(extra: str | bytes, size, chans: int | None) -> tuple[Preprocess, list[str] | None]:
    meta = {}
    if extra:
        try:
            meta = json.loads(extra)
        except ValueError:
            raise PhaseLensError(f"the {EXTRA} inside the model file is not valid JSON") from None
    chans = int(meta.get("channels", chans or len(meta.get("mean", [])) or 3))
    size = meta.get("input_size", size)
    if isinstance(size, int):
        size = (size, size)
    mean = meta.get("mean", (0.0,) * chans)
    std = meta.get("std", (1.0,) * chans)
    source = f"{EXTRA} in the model file" if meta else "identity (the file has no preprocessing)"
    return Preprocess(tuple(mean), tuple(std), tuple(size), chans, source=source), meta.get("class_names")
