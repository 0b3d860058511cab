"""Against a real Chroma server (`chroma run`, from the chromadb package) on
loopback: the ingest -> ask path, and two `rag serve` replicas that share it."""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from index.ingest import ingest
from index.store import ChunkStore
from rag.pipeline import Engine
from rag.settings import Settings, load_settings
from tests.fakes import HashingEmbedder
from tests.index.test_ingest import article, write_jsonl
from tests.ui.test_api import _port, _serve

pytestmark = pytest.mark.slow


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[int]:
    binary = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    port = _port()
    log = (tmp_path / "chroma.log").open("w")
    proc = subprocess.Popen([binary, "run", "--path", str(tmp_path / "server-data"), "--host", "127.0.0.1",
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "chroma.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _server_settings(tmp_path: Path, port: int, name: str) -> Settings:
    return load_settings(data_dir=tmp_path / name, corpus="served", embed_backend="hashing",
                         chroma_host="127.0.0.1", chroma_port=port, chunk_size=64, chunk_overlap=8)


def test_ingest_and_ask_through_the_server(tmp_path: Path, chroma_server: int, hashing: HashingEmbedder) -> None:
    s = _server_settings(tmp_path, chroma_server, "client-a")
    src = write_jsonl(tmp_path / "a.jsonl", [article(i) for i in range(8)])
    first = ingest([src], s)
    assert first.ok and first.added == 8
    assert ingest([src], s).unchanged == 8  # idempotent against the server too
    # Another client with its own data dir sees the same corpus: the state lives in the server.
    other = _server_settings(tmp_path, chroma_server, "client-b")
    assert ChunkStore(other).stats().articles == 8
    answer = Engine(other, embedder=hashing).ask("How many people attended the meeting about the wildfire report?")
    assert answer.passages and all(p.url.startswith("https://news.example.com/") for p in answer.passages)
    assert ChunkStore(s).delete_articles({"article_id": "art-3"})[0] == 1
    assert ChunkStore(other).stats().articles == 7


def test_two_replicas_share_one_server(tmp_path: Path, chroma_server: int) -> None:
    env = {"RAG_CHROMA_HOST": "127.0.0.1", "RAG_CHROMA_PORT": str(chroma_server)}
    a, url_a = _serve(tmp_path / "replica-a", tmp_path / "a.log", env)
    b, url_b = _serve(tmp_path / "replica-b", tmp_path / "b.log", env)
    try:
        story = {"id": "zep", "url": "https://z.example/zeppelin", "title": "Zeppelin museum",
                 "source": "z.example", "published": "2026-02-03",
                 "text": "A zeppelin museum opened in Friedrichshafen on Tuesday, drawing 4,000 visitors."}
        assert httpx.post(f"{url_a}/api/ingest", json={"articles": [story]}, timeout=120).json()["added"] == 1
        # Found at once through the other replica, by BM25 (its index follows the store's version) and dense.
        hits = httpx.get(f"{url_b}/api/search", params={"q": "zeppelin museum visitors"}, timeout=60).json()
        assert hits["passages"][0]["url"] == "https://z.example/zeppelin"
        q = {"question": "How many visitors did the zeppelin museum draw?"}
        ans_a = httpx.post(f"{url_a}/api/ask", json=q, timeout=60).json()
        ans_b = httpx.post(f"{url_b}/api/ask", json=q, timeout=60).json()
        assert "4,000 visitors" in ans_a["text"] and ans_a["text"] == ans_b["text"]
        assert ans_a["citations"] == ans_b["citations"]
        assert httpx.delete(f"{url_b}/api/articles/zep", timeout=60).json()["articles"] == 1
        gone = httpx.get(f"{url_a}/api/search", params={"q": "zeppelin museum visitors"}, timeout=60).json()
        assert all(p["url"] != "https://z.example/zeppelin" for p in gone["passages"])
    finally:
        for proc in (a, b):
            proc.terminate()
            proc.wait(timeout=30)
