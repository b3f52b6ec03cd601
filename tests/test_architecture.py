"""The package's shape: imports flow one way (no cycles), and sit at the top of each module
except for optional heavy dependencies, so the import lines show the real dependency graph."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "phaselens"
# Imported inside functions on purpose: optional, or heavy and rarely needed.
LAZY = {"scipy", "sklearn", "umap", "huggingface_hub", "timm", "torchvision", "transformers", "fcntl"}


def _modules() -> dict[str, Path]:
    mods = {}
    for f in PACKAGE.rglob("*.py"):
        parts = list(f.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = f
    return mods


def _imported(module: str, path: Path, node: ast.ImportFrom | ast.Import, mods: dict[str, Path]) -> list[str]:
    """The phaselens modules an import statement loads (a `from pkg import submodule` loads only that)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in mods]
    base = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    if node.level:
        base = base[: len(base) - (node.level - 1)]
        name = ".".join(base + ([node.module] if node.module else []))
    else:
        name = node.module or ""
    subs = [f"{name}.{a.name}" for a in node.names if f"{name}.{a.name}" in mods]
    found = subs if len(subs) == len(node.names) else [name, *subs]
    return [m for m in found if m in mods and m != module]


def _graph() -> dict[str, set[str]]:
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                graph[m].update(_imported(m, path, node, mods))
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(v: str) -> list[str] | None:
        state[v] = 1
        stack.append(v)
        for w in sorted(graph[v]):
            if state.get(w) == 1:
                return stack[stack.index(w) :] + [w]
            if w not in state and (found := visit(w)):
                return found
        state[v] = 2
        stack.pop()
        return None

    for v in sorted(graph):
        if v not in state and (found := visit(v)):
            return found
    return None


def test_no_import_cycle_between_modules():
    graph = _graph()
    assert len(graph) > 40 and "phaselens.features.reader" in graph["phaselens.render"] | graph["phaselens.features"]
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_check_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_imports_inside_functions_are_only_optional_dependencies():
    inner = []
    for path in PACKAGE.rglob("*.py"):
        for fn in ast.walk(ast.parse(path.read_text())):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(fn):
                    if isinstance(node, ast.Import):
                        names = [a.name for a in node.names]
                    elif isinstance(node, ast.ImportFrom):
                        names = [node.module or ""] if not node.level else ["."]
                    else:
                        continue
                    inner += [
                        f"{path.relative_to(PACKAGE)}:{node.lineno} {n}" for n in names if n.split(".")[0] not in LAZY
                    ]
    assert inner == []


def test_long_modules_say_why():
    long = [p for p in PACKAGE.rglob("*.py") if len(p.read_text().splitlines()) > 300]
    for path in long:
        doc = ast.get_docstring(ast.parse(path.read_text())) or ""
        assert "longer" in doc or "lines" in doc, f"{path} has over 300 lines and no reason in its docstring"
