"""Locks of output folders that long jobs share: one run per shard, and short critical sections.

`ShardLock` holds an exclusive `fcntl.flock` for a whole run, so a second run on the same shard of a
folder (Lens targets, concepts) is refused; `FolderLock` serializes short sections (building the site,
writing the metrics) between the shards of one job.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from .errors import PhaseLensError

try:  # fcntl is POSIX only; elsewhere runs are not locked (and the docs say so).
    import fcntl
except ImportError:  # pragma: no cover
    fcntl = None  # type: ignore[assignment]


class ShardLock:
    """An exclusive `fcntl.flock` on ``locks/shard-R-of-W.lock`` for as long as a run works.

    Ranks of one job hold different shards, so they never wait on each other; a
    second run on the same shard is refused with the holder's pid and host.
    """

    def __init__(self, out: Path, shard) -> None:
        self.path = Path(out) / "locks" / f"shard-{shard.rank}-of-{shard.world}.lock"
        self.shard = shard
        self._fd: int | None = None

    def __enter__(self) -> ShardLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown process"
                os.close(fd)
                raise PhaseLensError(
                    f"another lens run is already working on shard {self.shard} of {self.path.parents[1]} "
                    f"({holder}); wait for it to finish, or use another --out folder"
                ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {time.strftime('%H:%M:%S')}".encode(), 0)
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.ftruncate(self._fd, 0)
            os.close(self._fd)  # closing releases the flock
            self._fd = None


class FolderLock:
    """A blocking exclusive lock on ``locks/NAME.lock``, for short critical sections (building the site)."""

    def __init__(self, out: Path, name: str) -> None:
        self.path = Path(out) / "locks" / f"{name}.lock"
        self._fd: int | None = None

    def __enter__(self) -> FolderLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is not None:
            fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
