"""Saving targets on background threads while the device works on the next batch."""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import torch

from ..errors import PhaseLensError
from ..io import transparency_alpha
from . import store
from .manifest import Manifest


def save(out: Path, manifest: Manifest, images: torch.Tensor, transparency: torch.Tensor) -> None:
    """Write one target (images, alpha from its transparency, then the manifest)."""
    try:
        store.save_target(out, manifest, images, transparency_alpha(transparency))
    except OSError as err:
        raise PhaseLensError(f"could not save target {manifest.name} in {out}: {err}") from err


class Writer:
    """A small pool of threads that save whole batches of targets.

    PNG encoding and fsync release the GIL, so on a GPU the saving (a good part
    of a batch's time for large images) overlaps the next batch. Each target's
    manifest is still written after its images, so a kill loses only unsaved
    targets, which a resumed run redoes. At most `depth` batches wait, so memory
    stays bounded; a failed save is raised at the next submit or at close.
    """

    def __init__(self, threads: int | None = None, depth: int = 2) -> None:
        self.pool = ThreadPoolExecutor(threads or min(4, os.cpu_count() or 1), thread_name_prefix="lens-save")
        self.batches: deque[list[Future]] = deque()
        self.depth = depth

    def submit(self, saves: list[tuple[Path, Manifest, torch.Tensor, torch.Tensor]]) -> None:
        """Queue one batch of `save` argument tuples."""
        self.batches.append([self.pool.submit(save, *args) for args in saves])
        while len(self.batches) > self.depth:
            for f in self.batches.popleft():
                f.result()

    def close(self) -> None:
        try:
            while self.batches:
                for f in self.batches.popleft():
                    f.result()
        finally:
            self.pool.shutdown(wait=True)
