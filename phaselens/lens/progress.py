"""The Lens progress bar: targets of the whole folder, moving during long batches."""

from __future__ import annotations

from pathlib import Path

from tqdm.auto import tqdm

from . import store


class Bar:
    """tqdm over *all* targets of the folder (every shard): complete manifests, plus
    the steps done in the batch at work, so the ETA moves during long batches."""

    FORMAT = "{desc}: {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]"

    def __init__(self, out: Path, names: list[str], enabled: bool) -> None:
        self.out, self.names, self.base = out, names, 0
        self.bar: tqdm | None = None
        if enabled:
            self.base = self.complete()
            self.bar = tqdm(
                total=len(names),
                initial=self.base,
                desc=self._desc(),
                unit="target",
                dynamic_ncols=True,
                bar_format=self.FORMAT,
            )

    def _desc(self) -> str:
        return f"lens, {self.base}/{len(self.names)} targets done"

    def complete(self) -> int:
        return sum((store.target_dir(self.out, n) / store.MANIFEST).is_file() for n in self.names)

    def step(self, targets: int, fraction: float) -> None:
        """`fraction` of a batch of `targets` is done."""
        if self.bar is not None:
            self.bar.update(self.base + targets * fraction - self.bar.n)

    def refresh(self) -> None:
        if self.bar is not None:
            # Files of the last batch may still be being written: never move back.
            self.base = max(self.complete(), round(self.bar.n))
            self.bar.set_description_str(self._desc(), refresh=False)
            self.bar.update(self.base - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
