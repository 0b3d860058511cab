"""A Chroma store file cut short (a disk that failed, a copy that stopped): `rag` says which
store it cannot open and why, exits 1, and never writes over it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.servers import rag_cli

pytestmark = pytest.mark.slow


def test_a_truncated_store_file_gets_a_clear_error_and_is_left_alone(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert rag_cli(data, "ingest", "--sample", "--quiet").wait(timeout=300) == 0
    db = data / "chroma" / "chroma.sqlite3"
    whole = db.read_bytes()
    db.write_bytes(whole[: len(whole) // 3])
    cut = db.read_bytes()
    for args in (("ask", "Who is Pakistan's defence minister?"), ("stats",), ("ingest", "--sample", "--quiet")):
        run = rag_cli(data, *args, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        out, err = run.communicate(timeout=300)
        message = (out + err).decode()
        assert run.returncode == 1, (args, message)
        assert f"Cannot open the Chroma store at {data / 'chroma'}" in message, (args, message)
        assert "Traceback" not in message, (args, message)
    assert db.read_bytes() == cut  # nothing written over what may still be recovered
