"""Weight files: read a state dict safely and load it into a network.

``.safetensors`` files hold tensors only. Other files (``.pth``, ``.pt``,
``.bin``) are read with ``torch.load(weights_only=True)``, which rebuilds
tensors and plain containers but refuses any other pickled object: a pickle
can run arbitrary code when loaded, so such a file is rejected, never
executed.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from ..errors import PhaseLensError

# Keys under which training scripts commonly nest the weights.
NESTED_KEYS = ("state_dict", "model_state_dict", "model", "module", "net", "model_ema", "ema", "params")


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The tensors of a weight file, on the CPU, keyed by parameter name.

    Nested checkpoints (``{"state_dict": ...}``, ``{"model": ...}``) are
    unwrapped and a ``module.`` prefix (from DataParallel) is removed.

    Raises:
        PhaseLensError: missing file, unreadable file, or a pickle holding
            anything but tensors and plain containers.
    """
    path = Path(path)
    if not path.is_file():
        raise PhaseLensError(f"weights file {str(path)!r} does not exist")
    if path.suffix == ".safetensors":
        try:
            state = load_file(str(path), device="cpu")
        except (SafetensorError, OSError) as err:
            raise PhaseLensError(f"cannot read {path} as safetensors: {err}") from None
    else:
        state = _torch_load(path)
    state = _unwrap(state, path)
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def _torch_load(path: Path):
    try:
        return torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        first = str(err).strip().splitlines()[-1] if str(err).strip() else type(err).__name__
        raise PhaseLensError(
            f"refusing to load {path}: it holds pickled Python objects other than tensors, and unpickling "
            f"them could run arbitrary code ({first}). Save a plain state dict, preferably as "
            f".safetensors (safetensors.torch.save_file(model.state_dict(), 'w.safetensors'))"
        ) from None
    except Exception as err:  # noqa: BLE001 - a file that is no checkpoint fails in many ways (KeyError, ...)
        detail = f"{type(err).__name__}: {str(err).splitlines()[0]}" if str(err) else type(err).__name__
        raise PhaseLensError(
            f"cannot read weights from {path}: it is not a torch checkpoint or state dict ({detail}); "
            "give a .safetensors file or a .pth/.pt saved with torch.save(model.state_dict(), path)"
        ) from None


def _is_state(obj) -> bool:
    return (
        isinstance(obj, dict)
        and bool(obj)
        and all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())
    )


def _unwrap(obj, path: Path) -> dict[str, torch.Tensor]:
    if _is_state(obj):
        return dict(obj)
    if isinstance(obj, dict):
        for key in NESTED_KEYS:
            if _is_state(obj.get(key)):
                return dict(obj[key])
        # A state dict may carry non-tensor extras (e.g. `_metadata`); keep the tensors.
        tensors = {k: v for k, v in obj.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
        if tensors:
            return tensors
    raise PhaseLensError(
        f"{path} holds no state dict (found {type(obj).__name__}); expected parameter names mapped to tensors"
    )


def load_weights(net: nn.Module, path: str | Path) -> nn.Module:
    """Load the weight file `path` into `net` (every parameter and buffer must match).

    Raises:
        PhaseLensError: naming the first missing, unexpected or mis-shaped entries.
    """
    state = read_state_dict(path)
    own = net.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(own[k].shape)}"
        for k in own
        if k in state and tuple(state[k].shape) != tuple(own[k].shape)
    ]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(missing[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(unexpected[:3])})")
        if shapes:
            parts.append(f"{len(shapes)} of another shape (e.g. {', '.join(shapes[:2])})")
        raise PhaseLensError(
            f"weights in {path} do not fit {type(net).__name__}: {'; '.join(parts)}. "
            f"Check that the file was saved from this architecture (and class count)"
        )
    net.load_state_dict(state, strict=True)
    return net
