"""README's Python API example, run as it stands on the bundled sample (real model)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def test_readme_python_example_runs(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    block = re.search(r"\*\*Python API\.\*\*.*?```python\n(.*?)```", readme, re.S)
    assert block, "README lost its Python API example"
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")} | {
        "HF_HUB_OFFLINE": "1", "RAG_DATA_DIR": str(tmp_path / "data")}
    subprocess.run([sys.executable, "-m", "ui.cli", "ingest", "--sample", "--quiet"], env=env, check=True,
                   cwd=tmp_path, capture_output=True)
    out = subprocess.run([sys.executable, "-c", block.group(1)], env=env, cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    first, *rest = out.stdout.splitlines()
    assert "Khawaja Asif" in first and "[1]" in first
    assert rest[0].startswith("1 ") and "Balochistan" in out.stdout and "22" in out.stdout
