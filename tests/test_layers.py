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
