"""A target's manifest: what was made, how, and which files hold it.

``targets/NAME/manifest.json`` is written last, after every file it lists, so its
presence marks the target complete. `Manifest` is the one definition of that file:
`generate` fills it, `store` writes and reads it, `site` and the demo read it.
Files written by earlier versions lack some fields; reading gives them defaults.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

VERSION = 1
THUMB = "thumb.jpg"


@dataclass
class Facet:
    """One image of a target (facet F comes from its own seed).

    Attributes:
        facet: index F. seed: the image's seed. score: mean objective over the last
        eighth of the steps; final_score: at the last step. trace: the objective over
        the run, downsampled. image, rgba: file names, set when saved.
    """

    facet: int
    seed: int | None = None
    score: float | None = None
    final_score: float | None = None
    trace: list[float] = field(default_factory=list)
    image: str = ""
    rgba: str = ""


@dataclass
class Manifest:
    """Everything known of one complete target.

    Attributes:
        name: folder name. key: stable identity (``class:3``). label: readable name.
        kind: ``class``, ``channel`` or ``neuron``. index: class or channel. layer: for channels.
        score: facet 0's score (what the index shows); score_window: steps it averages.
        facets: one `Facet` per image. settings: the run's settings (as in ``lens.json``).
        shard, seconds, batch, versions, created: how it was made. thumb: the index thumbnail.
        failed: None, or for a target that diverged (``failed.json``) ``{"step", "facets", "error"}``.
    """

    name: str
    key: str
    label: str
    kind: str = "class"
    index: int = 0
    layer: str | None = None
    score: float | None = None
    score_window: int | None = None
    facets: list[Facet] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)
    shard: str = ""
    seconds: float | None = None
    batch: int | None = None
    versions: dict[str, str] = field(default_factory=dict)
    created: str = ""
    thumb: str = THUMB
    version: int = VERSION
    failed: dict[str, Any] | None = None

    def files(self) -> list[str]:
        """Every file the manifest lists, relative to the target folder."""
        return [self.thumb] + [name for f in self.facets for name in (f.image, f.rgba)]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], folder_name: str) -> Manifest:
        """Read a manifest file's content; raises KeyError, TypeError or ValueError when malformed."""
        facets = [
            Facet(
                facet=int(f.get("facet", i)),
                seed=f.get("seed"),
                score=f.get("score"),
                final_score=f.get("final_score"),
                trace=list(f.get("trace", [])),
                image=str(f.get("image", "")),
                rgba=str(f.get("rgba", "")),
            )
            for i, f in enumerate(data.get("facets", []))
        ]
        return cls(
            name=str(data.get("name", folder_name)),
            key=str(data.get("key", folder_name)),
            label=str(data.get("label", folder_name)),
            kind=str(data.get("kind", "class")),
            index=int(data.get("index", 0)),
            layer=data.get("layer"),
            score=data.get("score"),
            score_window=data.get("score_window"),
            facets=facets,
            settings=dict(data.get("settings", {})),
            shard=str(data.get("shard", "")),
            seconds=data.get("seconds"),
            batch=data.get("batch"),
            versions=dict(data.get("versions", {})),
            created=str(data.get("created", "")),
            thumb=str(data.get("thumb", THUMB)),
            version=int(data.get("version", VERSION)),
            failed=data.get("failed"),
        )


def downsample(values: Sequence[float], points: int = 64) -> list[float]:
    """At most `points` values, evenly picked (first and last kept), to 5 significant digits: a trace."""
    n = len(values)
    if n <= points:
        picks = list(range(n))
    else:
        picks = sorted({round(i * (n - 1) / (points - 1)) for i in range(points)})
    return [float(f"{float(values[i]):.5g}") for i in picks]
