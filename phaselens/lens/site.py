"""The static site: ``DIR/site/`` with index.html, target.html, data.js, pages/*.js and assets.

The pages are fixed files (``phaselens/lens/static``); the data goes to
scripts that set a global, since browsers refuse fetch() of JSON on file://.
``data.js`` holds what the index shows of every target (a few hundred bytes
each, so 1000 classes stay light); ``pages/NAME.js`` holds the rest of one
target (facets, traces, sections, concepts), loaded by its page alone.
Images are not copied: the pages point at ``../targets/NAME/`` (and
``../concepts/classes/NAME/``), so serve (or open) the whole lens folder.
Building is idempotent and serialized by a lock, and each build re-reads what
is complete, so the last run to build wins with every target in it.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ..errors import PhaseLensError
from ..io import atomic_write_bytes, read_json, remove_temp_files
from ..locks import FolderLock
from . import store
from .concept_pages import concept_page, read_links
from .manifest import Manifest

STATIC = Path(__file__).resolve().parent / "static"
ASSETS = ("index.html", "target.html", "lens.css", "lens.js", "index.js", "target.js", "charts.js", "concepts.js")
KIND_ORDER = {"class": 0, "channel": 1, "neuron": 2}
INDEX_KEYS = ("name", "key", "label", "kind", "index", "layer", "score", "dir", "thumb")
PAGES = "pages"  # site/pages/NAME.js: one target's page data


def _sections(folder: Path, site_dir: str) -> list[dict]:
    """Each ``sections/*.json`` of a target, its image paths made relative to the site.

    A section is ``{"id", "title", "text"?, "items": [{"src", "caption"?, "score"?}]}``
    with ``src`` relative to the target folder. Malformed sections are skipped.
    """
    out = []
    for path in sorted((folder / "sections").glob("*.json")):
        section = read_json(path)
        if not isinstance(section, dict) or not isinstance(section.get("items", []), list):
            continue
        items = []
        for item in section.get("items", []):
            src = str(item.get("src", "")) if isinstance(item, dict) else ""
            if not src or src.startswith("/") or ".." in Path(src).parts:
                continue
            items.append(dict(item, src=site_dir + src))
        out.append(
            dict(
                id=str(section.get("id", path.stem)),
                title=str(section.get("title", path.stem)),
                text=str(section.get("text", "")),
                items=items,
            )
        )
    return out


def _entry(manifest: Manifest, folder: Path) -> dict:
    site_dir = f"../targets/{folder.name}/"
    facets = [
        dict(
            facet=f.facet,
            seed=f.seed,
            score=f.score,
            final_score=f.final_score,
            image=f.image,
            rgba=f.rgba,
            trace=f.trace,
        )
        for f in manifest.facets
    ]
    return dict(
        name=folder.name,
        key=manifest.key,
        label=manifest.label,
        kind=manifest.kind,
        index=manifest.index,
        layer=manifest.layer,
        score=manifest.score,
        score_window=manifest.score_window,
        dir=site_dir,
        thumb=manifest.thumb,
        facets=facets,
        seconds=manifest.seconds,
        batch=manifest.batch,
        sections=_sections(folder, site_dir),
    )


def collect(out_dir: str | Path) -> dict[str, Any]:
    """The site data: every complete target of the folder, in planned order."""
    out = Path(out_dir)
    config = read_json(out / store.CONFIG) or {}
    planned = list(config.get("planned", []))
    rank = {name: i for i, name in enumerate(planned)}
    entries = []
    root = store.targets_dir(out)
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        manifest = store.read_complete(out, folder.name)
        if manifest is not None:
            entries.append(_entry(manifest, folder))
    entries.sort(
        key=lambda e: (
            rank.get(e["name"], len(rank)),
            KIND_ORDER.get(e["kind"], 9),
            str(e["layer"]),
            e["index"],
            e["name"],
        )
    )
    classes = {e["index"]: (e["name"], e["label"]) for e in entries if e["kind"] == "class"}
    links = read_links(out)
    for e in entries:
        e["concepts"] = concept_page(out, e["name"], classes, links) if e["kind"] == "class" else None
    settings = dict(config.get("settings", {}))
    model = settings.get("model", "")
    title = settings.pop("title", None) or (f"Lens of {model}" if model else "Lens")
    return dict(
        version=1,
        title=title,
        model=model,
        generated=time.strftime("%Y-%m-%d %H:%M"),
        settings=settings,
        planned=len(planned),
        targets=entries,
    )


def _js(data: dict, var: str = "LENS_DATA") -> bytes:
    """``window.VAR = {...};`` with < > & escaped, so the data can never close a script tag."""
    text = json.dumps(data, ensure_ascii=True, sort_keys=False, separators=(",", ":"), allow_nan=False)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return f"window.{var} = {text};\n".encode()


def index_data(data: dict) -> dict:
    """What ``data.js`` keeps of `collect`'s data: per target only what the index shows, and its
    number of important concepts (None without concepts)."""
    targets = []
    for e in data["targets"]:
        entry = {k: e[k] for k in INDEX_KEYS}
        entry["concepts"] = e["concepts"]["important"] if e.get("concepts") else None
        targets.append(entry)
    return dict(data, targets=targets)


def _write_if_changed(path: Path, data: bytes) -> None:
    try:
        if path.read_bytes() == data:
            return
    except OSError:
        pass
    atomic_write_bytes(path, data)


def build_site(out_dir: str | Path, title: str | None = None) -> Path:
    """(Re)build ``out_dir/site/`` from the complete targets; returns the path of index.html.

    Safe to call at any time, from any number of processes: it takes a lock,
    re-reads the folder, and writes every file atomically.

    Raises:
        PhaseLensError: when `out_dir` is not a lens folder.
    """
    out = Path(out_dir)
    if not (out / store.CONFIG).is_file() and not store.targets_dir(out).is_dir():
        raise PhaseLensError(f"{out} is not a lens folder (no lens.json or targets/); make one with `phaselens lens`")
    site = out / "site"
    with FolderLock(out, "site"):
        data = collect(out)
        if title:
            data["title"] = title
        data = _clean(data)
        site.mkdir(parents=True, exist_ok=True)
        remove_temp_files(site)  # left by a killed build; safe under the lock
        for name in ASSETS:
            _write_if_changed(site / name, (STATIC / name).read_bytes())
        pages = site / PAGES
        pages.mkdir(exist_ok=True)
        remove_temp_files(pages)
        for entry in data["targets"]:
            _write_if_changed(pages / f"{entry['name']}.js", _js(entry, "LENS_PAGE"))
        atomic_write_bytes(site / "data.js", _js(index_data(data)))
    return site / "index.html"


def _clean(value):
    """NaN and infinities (a diverged score) become null: JSON has no words for them."""
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value
