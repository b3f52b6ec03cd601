"""MkDocs hooks for the PhaseLens site (loaded by ``hooks:`` in mkdocs.yml).

Two things, so that the site is built from the files people read on GitHub and never drifts from them:

- Includes. A line ``--8<-- "PATH"`` alone in a page is replaced by the file PATH, read from the
  repository root: docs/index.md is the README, docs/model-card.md the zoo's model card.
- Links. Links are written relative to the file they are in, as GitHub resolves them (the README
  links ``docs/models.md``, docs/benchmark.md links ``../phaselens/zoo/MODEL_CARD.md``). Each relative
  link is resolved to a repository path and pointed at the page that shows that path: a file under
  docs/ is its own page, an included file is the page that includes it. Links to anything else are
  left as they are, so that ``mkdocs build --strict`` reports them.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from mkdocs.exceptions import PluginError

INCLUDE = re.compile(r'^--8<--\s+"([^"]+)"\s*$')
# [text](target) and ![alt](target "title"): the target up to a space or the closing parenthesis.
LINK = re.compile(r"(\]\()([^)\s]+)((?:\s+\"[^\"]*\")?\))")
FENCE = re.compile(r"^\s*(```|~~~)")
DOCS = "docs"

_root = Path(".")
_included: dict[str, str] = {}  # repository path of an included file -> src_uri of the page including it


def on_config(config):
    global _root
    _root = Path(config.config_file_path).resolve().parent
    return config


def on_files(files, config):
    """Find which page includes which repository file, before any page is rendered."""
    _included.clear()
    for f in files:
        if not f.src_uri.endswith(".md"):
            continue
        for line in Path(f.abs_src_path).read_text(encoding="utf-8").splitlines():
            m = INCLUDE.match(line)
            if m:
                _included[posixpath.normpath(m.group(1))] = f.src_uri
    return files


def _outside_fences(text: str):
    """Yield (line, in_fence) for each line, so that code blocks are left alone."""
    fence = None
    for line in text.splitlines(keepends=True):
        m = FENCE.match(line)
        if m and (fence is None or m.group(1) == fence):
            fence = m.group(1) if fence is None else None
            yield line, True
            continue
        yield line, fence is not None


def _rewrite(text: str, source_dir: str, page_dir: str) -> str:
    """Point the relative links of `text` (a file in repository folder `source_dir`) at site pages."""

    def fix(m: re.Match) -> str:
        target = m.group(2)
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*:", target) or target.startswith(("#", "/")):
            return m.group(0)
        path, hash_, fragment = target.partition("#")
        repo_path = posixpath.normpath(posixpath.join(source_dir, path))
        if repo_path in _included:
            dest = _included[repo_path]
        elif repo_path.startswith(DOCS + "/"):
            dest = repo_path[len(DOCS) + 1 :]
        else:
            return m.group(0)
        link = posixpath.relpath(dest, page_dir or ".")
        return f"{m.group(1)}{link}{hash_}{fragment}{m.group(3)}"

    out = []
    for line, in_fence in _outside_fences(text):
        out.append(line if in_fence else LINK.sub(fix, line))
    return "".join(out)


def on_page_markdown(markdown, page, config, files):
    page_dir = posixpath.dirname(page.file.src_uri)
    out = []
    for line, in_fence in _outside_fences(markdown):
        m = None if in_fence else INCLUDE.match(line.rstrip("\n"))
        if m is None:
            out.append(_rewrite(line, posixpath.join(DOCS, page_dir), page_dir))
            continue
        rel = posixpath.normpath(m.group(1))
        source = _root / rel
        if not source.is_file():
            raise PluginError(f"{page.file.src_uri}: included file {rel} does not exist")
        out.append(_rewrite(source.read_text(encoding="utf-8"), posixpath.dirname(rel), page_dir) + "\n")
    return "".join(out)
