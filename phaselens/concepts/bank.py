"""A concept bank: the atoms W of one factorization at one layer, with how it was made, saved as safetensors.

A file holds tensors (``W``, and ``mean`` for pca) and one JSON record in the safetensors metadata under
``phaselens.concept_bank`` (layer, class, method, settings, metrics). `save_banks` / `load_banks` keep
many banks (one per class) in one file, the tensors named ``{i}.W`` and ``{i}.mean``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from ..errors import PhaseLensError
from .factorize import METHODS, transform

KEY = "phaselens.concept_bank"
KEY_MANY = "phaselens.concept_banks"
SOURCES = ("crops", "positions")
FORMAT = 1


@dataclass
class ConceptBank:
    """R concepts at one layer: the rows of W, directions in the layer's D-dimensional activation space.

    Attributes:
        W: the atoms, one concept per row (unit L2 norm for nmf and semi_nmf, orthonormal for pca).
        layer: dotted name of the layer the activations come from.
        class_id: the class whose images were factorized, or None.
        method: ``nmf``, ``semi_nmf`` or ``pca``.
        on: ``crops`` (CRAFT: one row per crop, spatially averaged) or ``positions`` (one row per position).
        settings: how it was made (rank, patch, stride, seed, model name, ...), JSON-serializable.
        metrics: fit metrics: ``error`` (relative reconstruction error ‖A − UW‖_F / ‖A‖_F), ``sparsity``
            (share of zeros in U), ``hoyer``, ``n_iter``, ``converged``, ``rows``, ``images``.
        mean: the row mean removed by pca, else None.

    Shape:
        - W: (R, D); mean: (D,).

    Example:
        >>> bank = ConceptBank(torch.eye(2, 4), layer="layer3", class_id=1)
        >>> bank.rank, bank.channels, bank.transform(torch.tensor([[2.0, -1.0, 5.0, 0.0]])).tolist()
        (2, 4, [[2.0, 0.0]])
    """

    W: torch.Tensor
    layer: str
    class_id: int | None = None
    method: str = "nmf"
    on: str = "crops"
    settings: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    mean: torch.Tensor | None = None

    def __post_init__(self) -> None:
        W = torch.as_tensor(self.W)
        if W.ndim != 2 or not W.is_floating_point() or W.shape[0] < 1:
            raise PhaseLensError(f"ConceptBank.W must be a float (R, D) tensor with R ≥ 1, got {tuple(W.shape)}")
        self.W = W.detach()
        if self.method not in METHODS:
            raise PhaseLensError(f"ConceptBank.method must be one of {', '.join(METHODS)}; got {self.method!r}")
        if self.on not in SOURCES:
            raise PhaseLensError(f"ConceptBank.on must be one of {', '.join(SOURCES)}; got {self.on!r}")
        if self.mean is not None:
            self.mean = torch.as_tensor(self.mean).detach().reshape(-1)
            if self.mean.shape[0] != W.shape[1]:
                raise PhaseLensError(f"ConceptBank.mean must have D = {W.shape[1]} values, got {self.mean.shape[0]}")
        if self.class_id is not None:
            self.class_id = int(self.class_id)

    @property
    def rank(self) -> int:
        """R, the number of concepts."""
        return int(self.W.shape[0])

    @property
    def channels(self) -> int:
        """D, the activation size at the layer."""
        return int(self.W.shape[1])

    def transform(self, A: torch.Tensor) -> torch.Tensor:
        """Coefficients of activations: NNLS for nmf and semi_nmf, least squares for pca.

        Shape:
            - A: (..., D) → (..., R), on A's device.
        """
        mean = None if self.mean is None else self.mean.to(A)
        return transform(A, self.W.to(A), method=self.method, mean=mean)

    def reconstruct(self, U: torch.Tensor) -> torch.Tensor:
        """Â = U W (+ mean). Shape: (..., R) → (..., D)."""
        out = U @ self.W.to(U)
        return out if self.mean is None else out + self.mean.to(U)

    def _record(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "layer": self.layer,
            "class_id": self.class_id,
            "method": self.method,
            "on": self.on,
            "settings": self.settings,
            "metrics": self.metrics,
        }

    def _tensors(self, prefix: str = "") -> dict[str, torch.Tensor]:
        out = {f"{prefix}W": self.W.detach().cpu().contiguous()}
        if self.mean is not None:
            out[f"{prefix}mean"] = self.mean.detach().cpu().contiguous()
        return out

    def save(self, path: str | Path) -> Path:
        """Write the bank as one safetensors file (W, mean) with its record as JSON metadata; returns the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        save_file(self._tensors(), str(path), metadata={KEY: _dumps(self._record())})
        return path

    @classmethod
    def load(cls, path: str | Path) -> ConceptBank:
        """Read a bank written by `save`."""
        tensors, meta = _read(path)
        if KEY not in meta:
            hint = " (it holds many banks: use load_banks)" if KEY_MANY in meta else ""
            raise PhaseLensError(f"{path} is not a PhaseLens concept bank{hint}")
        return _from_record(json.loads(meta[KEY]), tensors, "", path)


def _dumps(record: Any) -> str:
    try:
        return json.dumps(record, allow_nan=True, default=_plain)
    except TypeError as e:
        raise PhaseLensError(f"concept bank settings and metrics must be JSON values: {e}") from e


def _plain(value: Any) -> Any:
    """numpy and torch scalars and arrays as JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-serializable")


def _read(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    path = Path(path)
    if not path.is_file():
        raise PhaseLensError(f"no concept bank file at {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            tensors = {k: f.get_tensor(k) for k in f.keys()}  # noqa: SIM118 - safe_open is no dict
    except Exception as e:
        raise PhaseLensError(f"{path} is not a readable safetensors file: {e}") from e
    return tensors, meta


def _from_record(record: dict, tensors: dict[str, torch.Tensor], prefix: str, path: str | Path) -> ConceptBank:
    if record.get("format") != FORMAT or f"{prefix}W" not in tensors:
        raise PhaseLensError(f"{path}: concept bank of an unknown format (expected format {FORMAT})")
    return ConceptBank(
        tensors[f"{prefix}W"],
        layer=record["layer"],
        class_id=record.get("class_id"),
        method=record.get("method", "nmf"),
        on=record.get("on", "crops"),
        settings=record.get("settings", {}),
        metrics=record.get("metrics", {}),
        mean=tensors.get(f"{prefix}mean"),
    )


def save_banks(banks: Sequence[ConceptBank], path: str | Path) -> Path:
    """Write many banks (e.g. one per class) to one safetensors file; returns the path."""
    if not banks:
        raise PhaseLensError("save_banks needs at least one ConceptBank")
    tensors: dict[str, torch.Tensor] = {}
    for i, bank in enumerate(banks):
        tensors.update(bank._tensors(f"{i}."))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={KEY_MANY: _dumps([b._record() for b in banks])})
    return path


def load_banks(path: str | Path) -> list[ConceptBank]:
    """Read the banks of a `save_banks` file (a `ConceptBank.save` file gives a list of one)."""
    tensors, meta = _read(path)
    if KEY in meta:
        return [_from_record(json.loads(meta[KEY]), tensors, "", path)]
    if KEY_MANY not in meta:
        raise PhaseLensError(f"{path} is not a PhaseLens concept bank file")
    return [_from_record(r, tensors, f"{i}.", path) for i, r in enumerate(json.loads(meta[KEY_MANY]))]
