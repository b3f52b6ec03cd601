"""The concept part of a class page: what ``OUT/concepts/classes/NAME/`` holds, shaped for target.js.

`phaselens lens --concepts` writes a concepts folder (`phaselens.concepts.run`) at ``OUT/concepts``.
Each complete class there becomes, on its class page, the sections ``strategy``, ``concepts``,
``importance``, ``similarity``, ``alignment`` and ``similar-concepts``. Paths are made relative to the
site, as the target's own images are.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..io import read_json

FOLDER = "concepts"  # the concepts folder inside a lens folder


def concepts_dir(out: Path) -> Path:
    return Path(out) / FOLDER


def read_links(out: Path) -> dict[int, list[dict]]:
    """``links.json`` of the lens's concepts folder, grouped by the class they start from."""
    found = read_json(concepts_dir(out) / "links.json")
    by_class: dict[int, list[dict]] = defaultdict(list)
    for link in found if isinstance(found, list) else []:
        if isinstance(link, dict) and {"cls", "concept", "other", "other_concept"} <= link.keys():
            by_class[int(link["cls"])].append(link)
    return by_class


def _src(site_dir: str, path: Any) -> str | None:
    """A file of the class folder as a site path, or None for anything that is not a plain relative path."""
    text = str(path or "")
    if not text or text.startswith("/") or ".." in Path(text).parts:
        return None
    return site_dir + text


def concept_page(
    out: Path,
    name: str,
    classes: Mapping[int, tuple[str, str]],
    links: Mapping[int, list[dict]],
) -> dict[str, Any] | None:
    """The concept data of class target `name`, or None when its concepts are not complete.

    Args:
        out: the lens folder. name: the class's target (and concepts) folder name.
        classes: class index -> (target name, label) of every class target of the site, for links.
        links: `read_links`.
    """
    folder = concepts_dir(out) / "classes" / name
    manifest = read_json(folder / "manifest.json")
    importance = read_json(folder / "importance.json")
    strategy = read_json(folder / "strategy.json")
    relations = read_json(folder / "relations.json")
    if not all(isinstance(x, dict) for x in (manifest, importance, strategy, relations)):
        return None
    assert isinstance(manifest, dict) and isinstance(importance, dict)
    assert isinstance(strategy, dict) and isinstance(relations, dict)
    site_dir = f"../{FOLDER}/classes/{name}/"
    main = importance.get(str(importance.get("main", "gradient_input")), {})
    share = [float(v) for v in main.get("share", [])]
    counts, important = strategy.get("counts", []), strategy.get("important", [])
    concepts: list[dict[str, Any]] = []
    for entry in manifest.get("concepts", []):
        c = int(entry["index"])
        concepts.append(
            dict(
                index=c,
                share=share[c] if c < len(share) else None,
                images=int(counts[c]) if c < len(counts) else 0,
                important=bool(important[c]) if c < len(important) else False,
                image=_src(site_dir, entry.get("image")),
                rgba=_src(site_dir, entry.get("rgba")),
                crops=[s for s in (_src(site_dir, k.get("src")) for k in entry.get("crops", [])) if s],
                maps=[s for s in (_src(site_dir, m) for m in entry.get("maps", [])) if s],
            )
        )
    concepts.sort(key=lambda k: (-(k["share"] if k["share"] is not None else float("-inf")), k["index"]))
    # Gradient x Input is a share of the logit, so what the concepts do not explain is shown too.
    remainder = 1.0 - sum(share) if main.get("method") == "gradient_input" and share else None
    class_id = int(manifest.get("class_id", -1))
    align = relations.get("alignment", {})
    alignment = [
        dict(concept=c, classes=[_class(classes, int(k), float(cos)) for k, cos in zip(ks, coss)])
        for c, (ks, coss) in enumerate(zip(align.get("classes", []), align.get("cosines", [])))
    ]
    similar = []
    for link in links.get(class_id, []):
        other = classes.get(int(link["other"]))
        if other is None:
            continue
        other_dir = f"../{FOLDER}/classes/{other[0]}/"
        similar.append(
            dict(
                concept=int(link["concept"]),
                other=other[0],
                label=other[1],
                other_concept=int(link["other_concept"]),
                cosine=float(link.get("cosine", 0.0)),
                image=f"{other_dir}concept_{int(link['other_concept'])}.png",
            )
        )
    return dict(
        dir=site_dir,
        important=int(manifest.get("important", 0)),
        images=int(manifest.get("images", 0)),
        rank=int(manifest.get("rank", len(concepts))),
        method=str(main.get("method", "")),
        concepts=concepts,
        remainder=remainder,
        strategy=dict(
            points=strategy.get("points", []),
            dominant=strategy.get("dominant", []),
            thumbs=[_src(site_dir, t) for t in strategy.get("thumbs", [])],
            names=strategy.get("images", []),
            method=strategy.get("method", ""),
        ),
        similarity=dict(matrix=relations.get("similarity", []), layout=relations.get("layout", [])),
        alignment=alignment,
        similar=similar,
    )


def _class(classes: Mapping[int, tuple[str, str]], k: int, cosine: float) -> dict[str, Any]:
    """A class of the head as a link target: its page when the site has one."""
    target = classes.get(k)
    return dict(index=k, name=target[0] if target else None, label=target[1] if target else f"class {k}", cosine=cosine)
