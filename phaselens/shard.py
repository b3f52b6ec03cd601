"""Which part of the targets this process makes.

Target i of the list belongs to shard ``i % world``. The shard comes from, in
order: an explicit ``I/N``; torchrun's RANK / WORLD_SIZE / LOCAL_RANK; Slurm
array variables (SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT). Torchrun inside
a Slurm array composes: task t, rank r of W -> shard t * W + r of COUNT * W.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import PhaseLensError


@dataclass(frozen=True)
class Shard:
    """Shard `rank` of `world`; `local_rank` picks the GPU on this node."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0

    def __post_init__(self) -> None:
        if self.world < 1 or not 0 <= self.rank < self.world:
            raise PhaseLensError(f"shard {self.rank}/{self.world} is invalid: need 0 <= rank < world")

    def owns(self, position: int) -> bool:
        """Whether target number `position` of the full list is this shard's."""
        return position % self.world == self.rank

    def __str__(self) -> str:
        return f"{self.rank}/{self.world}"


def _int(env: Mapping[str, str], name: str) -> int | None:
    value = env.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError:
        raise PhaseLensError(f"environment variable {name}={value!r} is not an integer") from None


def parse_shard(text: str) -> Shard:
    """``"I/N"`` -> shard I of N."""
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m:
        raise PhaseLensError(f"bad shard {text!r}: write I/N, e.g. 0/4 for the first of four")
    return Shard(int(m.group(1)), int(m.group(2)))


def shard_from_env(env: Mapping[str, str] | None = None) -> Shard:
    """The shard described by torchrun and/or Slurm array variables; 0/1 when none are set."""
    env = os.environ if env is None else env
    rank = _int(env, "RANK") or 0
    world = _int(env, "WORLD_SIZE") or 1
    local = _int(env, "LOCAL_RANK")
    local = rank if local is None else local
    task = _int(env, "SLURM_ARRAY_TASK_ID")
    count = _int(env, "SLURM_ARRAY_TASK_COUNT")
    if task is not None and count is not None and count > 1:
        task -= _int(env, "SLURM_ARRAY_TASK_MIN") or 0
        if not 0 <= task < count:
            raise PhaseLensError(
                f"SLURM_ARRAY_TASK_ID gives task {task} of {count}: "
                f"use a contiguous array such as --array=0-{count - 1}"
            )
        rank, world = task * world + rank, count * world
    return Shard(rank, world, local)
