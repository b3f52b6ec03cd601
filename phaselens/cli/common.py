"""Options shared by subcommands: which model, on which device."""

from __future__ import annotations

import argparse
import platform

import torch

from ..errors import PhaseLensError
from ..model import ImageModel


def add_model_args(p: argparse.ArgumentParser) -> None:
    """--model and --device, plus weights and preprocessing overrides (see phaselens.models)."""
    p.add_argument(
        "--model", default=None,
        help="model spec: zoo:NAME (default zoo:cnn), timm:NAME, torchvision:NAME, hf:REPO_OR_DIR, "
        "a TorchScript .pt / torch.export .pt2 file, package.module:callable, or file.py:callable",
    )
    p.add_argument("--device", default="auto", help="cpu, cuda, cuda:N, or auto (default: GPU when present)")
    p.add_argument("--weights", default=None, metavar="FILE",
                   help="weights for the named architecture: .safetensors, or a .pth state dict (no pickled code)")
    p.add_argument("--no-pretrained", action="store_true",
                   help="random initialization instead of pretrained weights (for trying things out)")
    p.add_argument("--mean", default=None, help="normalization mean per channel, e.g. 0.5,0.5,0.5 (default: the model's)")
    p.add_argument("--std", default=None, help="normalization std per channel (default: the model's)")
    p.add_argument("--input-size", default=None, help="size the model runs at: N or H,W (default: the model's)")


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
    model = load_model(
        args.model,
        pretrained=not getattr(args, "no_pretrained", False),
        weights=getattr(args, "weights", None),
        mean=getattr(args, "mean", None),
        std=getattr(args, "std", None),
        input_size=getattr(args, "input_size", None),
    )
    return model.to(device)


def versions() -> dict[str, str]:
    from .. import __version__

    return {"phaselens": __version__, "torch": torch.__version__, "python": platform.python_version()}
