"""The `openai` embedding backend over real HTTP, against a minimal
OpenAI-compatible embeddings endpoint served on loopback."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from index.ingest import ingest
from rag.embed import make_embedder
from rag.errors import BackendError, BackendUnavailable
from rag.settings import load_settings
from rag.store import ChunkStore
from tests.helpers import article, write_jsonl


def _vector(text: str) -> list[float]:
    digest = hashlib.sha256(text.encode()).digest()
    return [b / 255 for b in digest[:16]]


class _Handler(BaseHTTPRequestHandler):
    requests: list[dict[str, object]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _Handler.requests.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
        inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
        out = {"object": "list", "model": body["model"], "usage": {"prompt_tokens": 1, "total_tokens": 1},
               "data": [{"object": "embedding", "index": i, "embedding": _vector(str(t))} for i, t in enumerate(inputs)]}
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.requests = []
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_ingest_with_openai_embeddings(tmp_path: Path, server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", "sk-test-123")
    s = load_settings(data_dir=tmp_path / "d", corpus="oai", embed_backend="openai", embed_model="emb-1",
                      openai_base_url=server, openai_api_key_env="MY_KEY", embed_batch_size=4,
                      chunk_size=64, chunk_overlap=8)
    report = ingest([write_jsonl(tmp_path / "a.jsonl", [article(i) for i in range(3)])], s)
    assert report.ok and report.chunks_written > 4
    reqs = _Handler.requests
    assert all(r["path"] == "/v1/embeddings" and r["model"] == "emb-1" for r in reqs)
    assert all(r["auth"] == "Bearer sk-test-123" for r in reqs)
    assert max(len(r["input"]) for r in reqs) <= 4  # batched by embed_batch_size
    stored = ChunkStore(s).dump()
    served = [_vector(str(t)) for r in reqs for t in r["input"]]  # type: ignore[union-attr]
    # Chroma keeps float32, hence the tolerance.
    for _, _, vec in stored.values():
        assert min(max(abs(a - b) for a, b in zip(vec, v)) for v in served) < 1e-6
    assert ChunkStore(s).stats().embedder == "openai:emb-1"


def test_openai_embeddings_need_a_key_or_a_server() -> None:
    with pytest.raises(BackendUnavailable, match="OPENAI_API_KEY"):
        make_embedder(load_settings(embed_backend="openai"))


@pytest.mark.slow  # llama-index's OpenAI embedder retries three times, with backoff (15 s)
def test_an_unreachable_embeddings_server_is_our_error_at_question_time() -> None:
    # At ingest any embedder's failure is wrapped; at question time this one's must be ours too.
    settings = load_settings(embed_backend="openai", openai_base_url="http://127.0.0.1:9/v1", embed_model="m")
    with pytest.raises(BackendError, match="Cannot reach the embeddings server at http://127.0.0.1:9/v1"):
        make_embedder(settings).get_query_embedding("Who won?")
