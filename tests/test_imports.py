"""No import circles: the modules of the package, read as a graph of their imports, have
no cycle, counting those under `if TYPE_CHECKING:` (a module that needs another's types
to describe its arguments reads that module's state; the two are one idea or need a
protocol). Packages' __init__ files re-export and are left out."""

from __future__ import annotations

import ast
from pathlib import Path

import bijective

ROOT = Path(bijective.__file__).parent


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """The package modules `path` imports (at run time or for type checking)."""
    tree = ast.parse(path.read_text())
    here = _name(path).split(".")
    if path.name != "__init__.py":
        here = here[:-1]
    found = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.ImportFrom):
            continue
        base = ".".join(here[: len(here) - node.level + 1] + [node.module or ""]).rstrip(".")
        if not node.level:
            base = node.module or ""
        for alias in node.names:
            full = f"{base}.{alias.name}"
            found.add(full if full in modules else base)
    return found & modules


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph, as a path that returns to its start, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_package_has_no_import_circles() -> None:
    files = {_name(p): p for p in ROOT.rglob("*.py")}
    modules = {n for n, p in files.items() if p.name != "__init__.py"}
    graph = {n: _imports(files[n], modules) - {n} for n in modules}
    assert len(graph) > 50 and sum(map(len, graph.values())) > 100  # the graph was read
    assert _cycle(graph) is None, " -> ".join(_cycle(graph) or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
