"""Data flows one way: index -> store <- rag <- ui / evals. Checked on the imports."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


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


def test_rag_and_index_never_import_ui_or_evals() -> None:
    for package in ("rag", "index"):
        bad = {(f, m) for f, m in _imports(package) if m.split(".")[0] in ("ui", "evals")}
        assert not bad, f"{package} imports {bad}"


def test_index_uses_only_rag_settings_and_errors() -> None:
    used = {m for _, m in _imports("index") if m.split(".")[0] == "rag"}
    assert used <= {"rag.settings", "rag.errors"}, used


def test_only_one_module_imports_each_sdk() -> None:
    every = _imports("rag") | _imports("index") | _imports("ui") | _imports("evals")
    assert {f for f, m in every if m.split(".")[0] == "chromadb"} == {"index/store.py"}
    assert {f for f, m in every if m.split(".")[0] == "openai"} <= {"rag/generators.py"}
