"""The folders import one way: rag <- index <- evals <- ui. Checked on every import, with no
exceptions: ``rag/`` (the kernel: settings, errors, types, store access, embedders, the
question-to-answer pipeline) imports none of the others; ``index/`` builds on ``rag/``;
``evals/`` on both; ``ui/`` (the CLI, the API and the chat) on all three."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Each folder may import the folders before it, never one after it.
LAYERS = ("rag", "index", "evals", "ui")


def _imports(package: str) -> set[tuple[str, str]]:
    found = set()
    for path in (ROOT / package).rglob("*.py"):
        where = path.relative_to(ROOT).as_posix()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {(where, a.name) for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add((where, node.module))
    return found


def test_the_folders_import_one_way() -> None:
    for rank, package in enumerate(LAYERS):
        later = set(LAYERS[rank + 1:])
        bad = sorted((f, m) for f, m in _imports(package) if m.split(".")[0] in later)
        assert not bad, f"{package}/ may import only {LAYERS[:rank + 1]}, but: {bad}"


def test_the_check_sees_imports_inside_functions() -> None:
    # Lazy imports (inside functions, for start-up time) count as much as top-level ones.
    assert ("ui/routes/v1.py", "rag.tokens") in _imports("ui")


def test_only_one_module_imports_each_sdk() -> None:
    every = set().union(*(_imports(p) for p in LAYERS))
    assert {f for f, m in every if m.split(".")[0] == "chromadb"} == {"rag/store.py"}
    assert {f for f, m in every if m.split(".")[0] == "openai"} == {"rag/openai_client.py"}


def _module_graph() -> dict[str, set[str]]:
    """Module -> the project modules it imports (``from pkg import mod`` counts as ``pkg.mod``)."""
    files = {}
    for package in LAYERS:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            files[name.removesuffix(".__init__")] = path
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in files else node.module
                           for a in node.names]
            else:
                continue
            graph[name] |= {t for t in targets if t in files and t != name}
    return graph


def test_no_module_imports_itself_through_others() -> None:
    # Within a folder too: a cycle means two modules that cannot be understood (or loaded) apart.
    graph = _module_graph()
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(name):], name]))
        if name in done:
            return
        for target in sorted(graph[name]):
            visit(target, [*path, name])
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
    assert len(graph) > 60 and graph["rag.pipeline"]  # the graph is read, not empty
