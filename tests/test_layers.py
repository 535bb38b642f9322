"""The layers point one way (STYLE.md 16): the import graph of the project's own modules has no
cycle, the document domain never imports the task module, asks review only through
reviewer/queue.py, and pipeline/ imports no framework.

Every import statement counts, the ones inside functions too: an import moved into a function
to dodge a cycle is still an edge here."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("docproc", "reviewer", "workers")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _project_modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _imports(name: str, path: Path, modules: dict[str, Path]) -> Iterator[tuple[str, int]]:
    """(imported project module, line) for every import statement in the file. ``from a import b``
    names the module ``a.b`` when that is a module, else ``a``."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                target = alias.name
                while target and target not in modules:  # "import a.b.c" of a name that is not a module
                    target = target.rpartition(".")[0]
                if target:
                    yield target, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                source = ".".join([*base, node.module] if node.module else base)
            else:
                source = node.module or ""
            for alias in node.names:
                if f"{source}.{alias.name}" in modules:
                    yield f"{source}.{alias.name}", node.lineno
                elif source in modules:
                    yield source, node.lineno


@pytest.fixture(scope="module")
def graph() -> dict[str, dict[str, int]]:
    modules = _project_modules()
    edges: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        edges[name] = {}
        for target, line in _imports(name, path, modules):
            if target != name:
                edges[name].setdefault(target, line)
    return edges


def _cycle(graph: dict[str, dict[str, int]]) -> list[str] | None:
    """One cycle of the graph, as the modules along it, or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if state.get(start):
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, {}))))
    return None


def test_the_graph_finds_a_cycle_when_there_is_one():
    """Given a graph with a cycle three modules long, the search names it (the check can fail)."""
    assert _cycle({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 1}, "d": {"a": 1}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b": 1}, "b": {}, "c": {"a": 1, "b": 1}}) is None


def test_the_import_graph_is_resolved(graph):
    """Sanity: the graph holds the edges the layers are made of, so an empty graph cannot pass."""
    assert "docproc.lifecycle" in graph["docproc.webhooks"]
    assert "docproc.services" in graph["workers.tasks"]
    assert "reviewer.queue" in graph["reviewer.services"]  # a relative import


def test_the_project_import_graph_has_no_cycle(graph):
    cycle = _cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_domain_and_review_never_import_the_task_module(graph):
    bad = [f"{src} line {line} imports {dst}" for src, targets in graph.items() if src.startswith(("docproc", "reviewer"))
           for dst, line in targets.items() if dst == "workers" or dst.startswith("workers.")]
    assert bad == []


def test_the_domain_asks_review_only_through_reviewer_queue(graph):
    # docproc.bench drives the review app from outside, as its users would, to measure it.
    bad = [f"{src} line {line} imports {dst}" for src, targets in graph.items()
           if src.startswith("docproc") and not src.startswith("docproc.bench")
           for dst, line in targets.items() if dst.startswith("reviewer") and dst != "reviewer.queue"]
    assert bad == []


def test_pipeline_imports_no_framework():
    """pipeline/ is framework-free: no Django, DRF or Celery, and of the project only itself and
    the document types."""
    allowed = ("docproc.pipeline", "docproc.doctypes")
    bad = []
    for path in sorted((ROOT / "docproc" / "pipeline").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else [])
            for mod in names:
                top = mod.split(".")[0]
                if top in ("django", "rest_framework", "celery", "kombu", "reviewer", "workers") or (
                        top == "docproc" and not mod.startswith(allowed)):
                    bad.append(f"{path.relative_to(ROOT)} line {node.lineno} imports {mod}")
    assert bad == []
