"""SIGKILL `rag ingest` at random moments; the rerun must converge to exactly
the store of an uninterrupted run (no duplicate, orphan or missing chunk)."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from index.embed import make_embedder
from index.store import ChunkStore
from rag.settings import load_settings
from tests.index.test_ingest import article, write_jsonl

pytestmark = pytest.mark.slow


def _run(data_dir: Path, src: Path, *, kill_after: float | None = None) -> int | None:
    env = {**os.environ, "RAG_DATA_DIR": str(data_dir), "RAG_CORPUS": "crash",
           "RAG_CHUNK_SIZE": "96", "RAG_CHUNK_OVERLAP": "16", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "ui.cli", "ingest", "--quiet", str(src)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if kill_after is None:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err.decode()
        return 0
    try:
        proc.wait(timeout=kill_after)
        return proc.returncode  # finished before the kill
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        return None


def _snapshot(data_dir: Path) -> dict[str, tuple[str, dict[str, object], list[float]]]:
    settings = load_settings(data_dir=data_dir, corpus="crash")
    return ChunkStore(settings).dump()


def _assert_same(got: dict, want: dict) -> None:  # type: ignore[type-arg]
    assert sorted(got) == sorted(want), "chunk ids differ"
    for cid, (text, meta, vec) in want.items():
        g_text, g_meta, g_vec = got[cid]
        assert g_text == text and g_meta == meta, cid
        # Batch composition changes padding, hence the last float bits.
        assert max(abs(a - b) for a, b in zip(g_vec, vec)) < 1e-4, cid


def test_sigkill_during_ingest_and_update_converges(tmp_path: Path) -> None:
    first = [article(i, paragraphs=8) for i in range(40)]
    # Version 2: some articles shorter, some longer, some unchanged, some new.
    second = [article(i, paragraphs=3 if i % 3 == 0 else 8, variant="-v2" if i % 2 == 0 else "")
              for i in range(40)] + [article(i, paragraphs=8) for i in range(40, 50)]
    v1 = write_jsonl(tmp_path / "v1.jsonl", first)
    v2 = write_jsonl(tmp_path / "v2.jsonl", second)

    ref, crash = tmp_path / "ref", tmp_path / "crash"
    # The first embedder of a data dir builds the fast runtime's model: build it
    # before timing, so that the kills below fall inside the ingest itself.
    make_embedder(load_settings(data_dir=ref, corpus="crash"))
    if (ref / "models").is_dir():
        shutil.copytree(ref / "models", crash / "models")
    started = time.monotonic()
    _run(ref, v1)
    full = time.monotonic() - started
    _run(ref, v2)
    want = _snapshot(ref)

    rng = random.Random(20261124)
    kills = 0
    for src in (v1, v2):
        for _ in range(4):
            if _run(crash, src, kill_after=rng.uniform(0.3, full)) is None:
                kills += 1
        _run(crash, src)
    assert kills >= 4, "the runs finished before they could be killed; nothing was tested"
    _assert_same(_snapshot(crash), want)
    settings = load_settings(data_dir=crash, corpus="crash")
    assert ChunkStore(settings).collection().count() == len(want)
