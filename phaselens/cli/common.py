"""Options shared by subcommands: which model, on which device."""

from __future__ import annotations

import argparse
import platform

import torch

from ..errors import PhaseLensError
from ..model import ImageModel


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default=None, help="model spec (default: zoo:cnn, the embedded CNN)")
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N, or auto (default: GPU when present)")


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise PhaseLensError(f"unknown device {name!r}; valid: cpu, cuda, cuda:N, mps, auto") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise PhaseLensError(f"device {name!r} asked for, but no CUDA GPU is available; use --device cpu")
    return device


def load_model_from_args(args: argparse.Namespace) -> ImageModel:
    from ..models import load_model

    device = resolve_device(args.device)
    model = load_model(args.model)
    return model.to(device)


def versions() -> dict[str, str]:
    from .. import __version__

    return {"phaselens": __version__, "torch": torch.__version__, "python": platform.python_version()}
