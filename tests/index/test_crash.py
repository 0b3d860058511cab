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

from rag.embed import make_embedder
from rag.settings import load_settings
from rag.store import ChunkStore
from tests.helpers import article, write_jsonl

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


def test_two_ingests_of_one_corpus_at_once(tmp_path: Path) -> None:
    # The second one started on the same data dir is refused at once (the ingest lock), with a
    # message; rerun afterwards, it finds everything stored and embeds nothing. Nothing is
    # duplicated or lost.
    src = write_jsonl(tmp_path / "a.jsonl", [article(i, paragraphs=12) for i in range(40)])
    env = {**os.environ, "RAG_DATA_DIR": str(tmp_path / "data"), "RAG_CORPUS": "crash", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "ui.cli", "ingest", "--quiet", str(src)]
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_until_locked(tmp_path / "data" / "ingest.lock", first)
    second = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    out, err = first.communicate(timeout=600)
    assert first.returncode == 0, err
    assert second.returncode == 1 and "Another ingest is running" in second.stderr
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "0 added, 0 updated, 40 unchanged; 0 chunks" in again.stdout
    stored = _snapshot(tmp_path / "data")
    assert len({m["document_id"] for _, m, _ in stored.values()}) == 40


def _wait_until_locked(lock: Path, proc: subprocess.Popen[str]) -> None:
    # Read the kernel's table of locks rather than try the lock: trying it could make the
    # first process find it taken.
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None:
        if lock.exists():
            inode = lock.stat().st_ino
            for line in Path("/proc/locks").read_text().splitlines():
                fields = line.split()
                if "FLOCK" in fields and str(proc.pid) in fields and any(f.endswith(f":{inode}") for f in fields):
                    return
        time.sleep(0.05)
    raise AssertionError("the first ingest never took the lock")
