"""Options shared by subcommands: which model, on which device, with which run settings.

Every command that takes a model builds it with `load_model_from_args` (one set of
flags, one set of errors), and every optimization flag's default is read from
`phaselens.config.RunConfig`, so defaults live in one place.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable, Sequence

import torch

from ..config import DEFAULT, MIN_IMAGE_SIDE, RunConfig
from ..errors import PhaseLensError
from ..model import ImageModel
from ..models import SPEC_FORMS, load_model
from ..param import METHODS
from ..rng import check_seed
from ..transforms import CropConfig


def whole(low: int = 1, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: an integer in `low`..`high` (argparse's message names the flag)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number >= {low}, got {text!r}") from None
        if value < low or (high is not None and value > high):
            bound = f">= {low}" if high is None else f"in {low}..{high}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def finite(low: float | None = None, above: bool = False) -> Callable[[str], float]:
    """An argparse type: a finite number, optionally >= `low` (> `low` when `above`)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        if low is not None and (value <= low if above else value < low):
            raise argparse.ArgumentTypeError(f"must be {'>' if above else '>='} {low:g}, got {text}")
        return value

    parse.__name__ = "number"
    return parse


def seed_value(text: str) -> int:
    """An argparse type: a seed, 0..2**63-1."""
    try:
        return check_seed(int(text))
    except (ValueError, PhaseLensError):
        raise argparse.ArgumentTypeError(f"expected a whole number in 0..2**63-1, got {text!r}") from None


def add_model_args(p: argparse.ArgumentParser) -> None:
    """--model and --device, plus weights and preprocessing overrides (see phaselens.models)."""
    p.add_argument("--model", default=None, help=f"model spec (default zoo:cnn): {SPEC_FORMS}")
    p.add_argument("--device", default="auto", help=f"{DEVICES} (default: GPU when present)")
    p.add_argument(
        "--weights",
        default=None,
        metavar="FILE",
        help="weights for the named architecture: .safetensors, or a .pth state dict (no pickled code)",
    )
    p.add_argument(
        "--no-pretrained",
        action="store_true",
        help="random initialization instead of pretrained weights (for trying things out)",
    )
    p.add_argument(
        "--mean", default=None, help="normalization mean per channel, e.g. 0.5,0.5,0.5 (default: the model's)"
    )
    p.add_argument("--std", default=None, help="normalization std per channel (default: the model's)")
    p.add_argument("--input-size", default=None, help="size the model runs at: N or H,W (default: the model's)")


def _crop_text(crop_size: tuple[float, float]) -> str:
    return ",".join(f"{v:g}" for v in crop_size)


def add_run_args(
    p: argparse.ArgumentParser, base: RunConfig = DEFAULT, method: bool = True, seed: bool = True, ema: bool = True
) -> None:
    """Optimization flags (visualize, lens, demo, bench), their defaults read from `base`."""
    if method:
        p.add_argument(
            "--method", default=base.method, choices=METHODS, help=f"image parameterization (default {base.method})"
        )
    p.add_argument("--steps", type=whole(1), default=base.steps, help=f"optimization steps (default {base.steps})")
    p.add_argument(
        "--size",
        type=whole(MIN_IMAGE_SIDE),
        default=base.image_size,
        help="image side in pixels (default: input size x 512/224)",
    )
    p.add_argument(
        "--crops", type=whole(1), default=base.crops, help=f"random crops per image per step (default {base.crops})"
    )
    p.add_argument(
        "--crop-size",
        default=_crop_text(base.crop_size),
        metavar="MIN,MAX",
        help=f"crop side as fractions of the image's shorter side (default {_crop_text(base.crop_size)})",
    )
    p.add_argument(
        "--noise", type=finite(0.0), default=base.noise, help=f"noise std added to the crops (default {base.noise:g})"
    )
    p.add_argument(
        "--lr",
        type=finite(0.0, above=True),
        default=base.lr,
        help=f"{base.optimizer} learning rate (default {base.lr:g})",
    )
    if ema:
        p.add_argument(
            "--ema",
            type=finite(0.0),
            default=base.ema,
            help="decay of the moving average of the parameters that the final image is made from; "
            f"0: the last step's (default {base.ema:g})",
        )
    if seed:
        p.add_argument("--seed", type=seed_value, default=0, help="random seed (default 0)")
    p.add_argument("--spectrum", default=None, help="MACO magnitude spectrum file (default: the shipped one)")
    p.add_argument(
        "--amp",
        action="store_true",
        help="bf16 autocast on CUDA: faster for big batches (lens), ignored on CPU (see docs/performance.md)",
    )
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format for CNNs on GPU")


def parse_crop_size(text: str) -> tuple[float, float]:
    """ "0.2,0.3" -> (0.2, 0.3); the range itself is checked by `CropConfig`."""
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise PhaseLensError(f"--crop-size takes MIN,MAX fractions like 0.2,0.3, got {text!r}") from None
    CropConfig(size=(lo, hi))
    return lo, hi


def run_config(args: argparse.Namespace, base: RunConfig = DEFAULT) -> RunConfig:
    """The `RunConfig` the flags of `add_run_args` ask for (checked before any model is loaded)."""
    return base.replace(
        method=getattr(args, "method", base.method),
        steps=args.steps,
        image_size=args.size,
        crops=args.crops,
        crop_size=parse_crop_size(args.crop_size),
        noise=args.noise,
        lr=args.lr,
        ema=getattr(args, "ema", base.ema),
        spectrum=args.spectrum,
        amp=args.amp,
        channels_last=args.channels_last,
    )


DEVICES = "cpu, cuda, cuda:N, or auto"


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto``: a GPU when present; ``auto`` and ``cuda`` pick GPU `local_rank` of this node.

    Only devices this torch can run a model on are accepted (``mps`` where available).
    """
    if name in ("auto", "cuda") and torch.cuda.is_available():
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if name == "auto":
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise PhaseLensError(f"unknown device {name!r}; valid: {DEVICES}") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise PhaseLensError(f"device {name!r} asked for, but no CUDA GPU is available; use --device cpu")
        if device.index is not None and device.index >= torch.cuda.device_count():
            count = torch.cuda.device_count()
            raise PhaseLensError(f"device {name!r}: this machine has {count} GPU(s), cuda:0..cuda:{count - 1}")
        return device
    mps = getattr(torch.backends, "mps", None)
    if device.type == "mps" and mps is not None and mps.is_available():
        return device
    if device.type != "cpu":
        raise PhaseLensError(f"device {name!r} cannot run models with this torch build; valid: {DEVICES}")
    return device


def load_model_from_args(
    args: argparse.Namespace, spec: str | None = None, device: torch.device | None = None
) -> ImageModel:
    """The model the flags of `add_model_args` name (`spec` in place of ``--model``), on its device.

    Commands without the override flags (``--models`` lists) get the source's defaults.
    """
    model = load_model(
        spec if spec is not None else args.model,
        pretrained=not getattr(args, "no_pretrained", False),
        weights=getattr(args, "weights", None),
        mean=getattr(args, "mean", None),
        std=getattr(args, "std", None),
        input_size=getattr(args, "input_size", None),
    )
    return model.to(device if device is not None else resolve_device(args.device))


def load_models(args: argparse.Namespace, specs: Sequence[str], device: torch.device) -> dict[str, ImageModel]:
    """Several models by spec, each through `load_model_from_args`."""
    return {spec: load_model_from_args(args, spec, device) for spec in specs}


def split_list(text: str, what: str) -> list[str]:
    """A comma-separated flag value as a list without blanks or repeats."""
    items = [s.strip() for s in text.split(",") if s.strip()]
    if not items:
        raise PhaseLensError(f"--{what} is empty")
    return list(dict.fromkeys(items))


def add_diversity_args(p: argparse.ArgumentParser) -> None:
    """--diversity W and --diversity-layer L (visualize, lens)."""
    p.add_argument(
        "--diversity",
        type=finite(0.0),
        default=0.0,
        metavar="W",
        help="push the facets of each target apart with this weight (Lucid's diversity; try 1-10; default 0)",
    )
    p.add_argument(
        "--diversity-layer",
        default=None,
        metavar="LAYER",
        help="layer whose Gram matrices --diversity compares (default: the last before global pooling)",
    )
