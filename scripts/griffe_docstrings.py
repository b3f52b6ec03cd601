"""A griffe extension for the API reference (mkdocs.yml loads it): docstring habits of PhaseLens that
griffe's Google style does not read, rewritten before the docstrings are parsed. The source keeps its
compact style; the reference shows one table row per parameter or attribute.

- ``Example:`` (singular) is read as an examples section, as ``Examples:`` is: its ``>>>`` lines are
  shown as code instead of as text of an admonition.
- ``>>>`` lines outside an examples section (a module docstring's doctest) are shown as a code block,
  not as Markdown quotes, without their ``# doctest:`` flags.
- In ``Args:`` and ``Attributes:``, one entry may name several parameters that share a description
  (``crops, crop_size, noise: see CropConfig.``): it becomes one entry per name.
- Several entries may share a line (``amp: bfloat16 autocast. channels_last: memory format.``): where
  a sentence starts with ``NAME:`` and NAME is a parameter of the function (a member of the class),
  a new entry starts there.

Nothing else changes: a parameter that is not in the signature is still reported by
``mkdocs build --strict``.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from griffe import Class, Extension, Function, Object

SECTION = re.compile(r"^(?P<indent>\s*)(?P<title>[A-Za-z][A-Za-z ]*):\s*$")
ENTRY = re.compile(r"^(?P<names>\*{0,2}\w+(?:\s*,\s*\*{0,2}\w+)*)\s*(?:\([^)]*\))?\s*:(?:\s|$)")
DOCTEST_FLAGS = re.compile(r"\s*#\s*doctest:.+$")
ENTRY_SECTIONS = {"args", "arguments", "params", "parameters", "attributes", "other parameters"}


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _names(head: str) -> list[str]:
    return [n.strip().lstrip("*") for n in head.split(",")]


def _split_entries(text: str, known: Collection[str]) -> list[tuple[str, str]] | None:
    """`text` (one section, joined) as (names, description) pairs, cut where a sentence starts with
    known names and a colon; None when it does not start with known names."""
    group = r"\*{0,2}\w+(?:\s*,\s*\*{0,2}\w+)*"
    starts = [
        m
        for m in re.finditer(rf"(?:^|(?<=[.;])\s+)(?P<names>{group})\s*:\s", text)
        if all(n in known for n in _names(m.group("names")))
    ]
    if not starts or starts[0].start() != 0:
        return None
    pairs = []
    for m, nxt in zip(starts, [*starts[1:], None]):
        desc = text[m.end() : nxt.start() if nxt else len(text)].strip()
        pairs.append((m.group("names"), desc))
    return pairs


def _entries(body: list[str], known: Collection[str]) -> list[str]:
    """The lines of an Args/Attributes section body, one entry per name."""
    item_indent = min((_indent(b) for b in body if b.strip()), default=0)
    pad = " " * item_indent
    entries: list[list[str]] = []
    for line in body:  # an entry starts at the entries' indent with NAME: (other lines go on the last one)
        if not entries or (line.strip() and _indent(line) == item_indent and ENTRY.match(line.strip())):
            entries.append([line])
        else:
            entries[-1].append(line)
    out: list[str] = []
    for entry in entries:
        head = entry[0].strip()
        m = ENTRY.match(head)
        if m is None:
            out.extend(entry)
            continue
        # Entries sharing lines ("a: x. b: y"), cut where a sentence starts with known names.
        pairs = _split_entries(" ".join(e.strip() for e in entry if e.strip()), known) if known else None
        flat = any(e.strip() and _indent(e) == item_indent for e in entry[1:])
        if pairs is not None and (len(pairs) > 1 or flat):
            out.extend(f"{pad}{name}: {desc}" for names, desc in pairs for name in _names(names))
            continue
        names = _names(m.group("names"))
        if len(names) < 2:  # an unknown name is kept as it is, so that griffe reports it
            out.extend(entry)
            continue
        for name in names:
            out.append(f"{pad}{name}: {head[m.end() :]}")
            out.extend(entry[1:])
    return out


def rewrite(text: str, known: Collection[str] = ()) -> str:
    """The docstring `text` with the habits above rewritten; `known`: the parameter or member names."""
    lines = text.split("\n")
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        m = SECTION.match(line)
        if not m:
            if line.lstrip().startswith(">>>"):
                # A doctest outside a section: it and its output lines, up to a blank line, as code.
                end = i
                while end < len(lines) and lines[end].strip():
                    end += 1
                pad = " " * _indent(line)
                code = [DOCTEST_FLAGS.sub("", c) for c in lines[i:end]]  # as griffe does in examples
                out.extend([f"{pad}```pycon", *code, f"{pad}```"])
                i = end
                continue
            out.append(line)
            i += 1
            continue
        title = m.group("title").lower()
        base = _indent(line)
        # The section's body: lines indented deeper than its title (blank lines included).
        body_end = i + 1
        while body_end < len(lines) and (not lines[body_end].strip() or _indent(lines[body_end]) > base):
            body_end += 1
        body = lines[i + 1 : body_end]
        out.append(f"{m.group('indent')}Examples:" if title == "example" else line)
        i = body_end
        out.extend(_entries(body, known) if title in ENTRY_SECTIONS else body)
    return "\n".join(out)


class PhaseLensDocstrings(Extension):
    """Rewrites docstrings with `rewrite` before they are parsed: a function's as it is created (its
    parameters known), a class's once its members are (the attribute names)."""

    def on_instance(self, *, obj: Object, **kwargs) -> None:
        if obj.docstring is None or obj.is_alias or isinstance(obj, Class):
            return
        known = [p.name for p in obj.parameters] if isinstance(obj, Function) else []
        obj.docstring.value = rewrite(obj.docstring.value, known)

    def on_class_members(self, *, cls: Class, **kwargs) -> None:
        if cls.docstring is None:
            return
        known = set(cls.members)
        init = cls.members.get("__init__")
        if isinstance(init, Function):
            known |= {p.name for p in init.parameters}
        cls.docstring.value = rewrite(cls.docstring.value, known)
