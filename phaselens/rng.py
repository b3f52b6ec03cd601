"""Seeded randomness shared by every image of the same seed.

Each image of a batch carries a seed. Images with equal seeds get identical
random draws (initial parameters, crops, noise), drawn once from one
`torch.Generator` per seed. So target i in a batch gives the same image as when
optimized alone with the same seed, and a batch may mix seeds (facets).
"""

from __future__ import annotations

import hashlib
import operator
from collections.abc import Sequence

import torch

from .errors import PhaseLensError


class SeedGroups:
    """One generator per distinct seed; draws are broadcast to the images using it.

    Example:
        >>> rng = SeedGroups([0, 0, 1])
        >>> d = rng.randn((2,))
        >>> bool((d[0] == d[1]).all()), bool((d[0] == d[2]).all())
        (True, False)
    """

    def __init__(self, seeds: Sequence[int], device: torch.device | str = "cpu") -> None:
        self.seeds = [check_seed(s) for s in seeds]
        self.device = torch.device(device)
        unique = list(dict.fromkeys(self.seeds))
        gen_device = self.device if self.device.type in ("cpu", "cuda") else torch.device("cpu")
        self.generators = [torch.Generator(gen_device).manual_seed(s) for s in unique]
        self._gen_device = gen_device
        self.index = torch.tensor([unique.index(s) for s in self.seeds], device=self.device)

    def _draw(self, fn, shape: tuple[int, ...]) -> torch.Tensor:
        draws = [fn(shape, generator=g, device=self._gen_device) for g in self.generators]
        stacked = torch.stack(draws).to(self.device)
        if len(self.generators) == 1:
            return stacked.expand(len(self.seeds), *shape)
        return stacked[self.index]

    def randn(self, shape: tuple[int, ...]) -> torch.Tensor:
        """Standard normal draws of `shape` per image: (B, *shape)."""
        return self._draw(torch.randn, tuple(shape))

    def rand(self, shape: tuple[int, ...]) -> torch.Tensor:
        """Uniform [0, 1) draws of `shape` per image: (B, *shape)."""
        return self._draw(torch.rand, tuple(shape))


MAX_SEED = 2**63 - 1


def check_seed(seed: object, what: str = "seed") -> int:
    """`seed` as an int in 0..2**63-1 (what torch, numpy and JSON readers all hold), else a clear error."""
    try:
        value = operator.index(seed)  # type: ignore[arg-type]
    except TypeError:
        value = -1
    if isinstance(seed, bool) or not 0 <= value <= MAX_SEED:
        raise PhaseLensError(f"{what} must be an integer in 0..2**63-1, got {seed!r}")
    return value


def derived_seed(base: int, key: str, index: int = 0) -> int:
    """A seed from (base seed, a key naming what is made, an index): the same wherever and whenever
    it is made, so batching, sharding and resuming cannot change an image.

    53 bits, so the seed survives JSON readers that hold numbers as doubles (the site's JavaScript).
    """
    digest = hashlib.blake2b(f"{int(base)}|{key}|{int(index)}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & (2**53 - 1)
