"""Against a real Chroma server (`chroma run`, from the chromadb package) on
loopback: the ingest -> ask path, and two `rag serve` replicas that share it."""

from __future__ import annotations

import http.server
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from evals.bench_server import start_chroma
from index.ingest import ingest
from rag.errors import RagError
from rag.pipeline import Engine
from rag.settings import Settings, load_settings
from rag.store import ChunkStore
from tests.fakes import HashingEmbedder
from tests.helpers import article, free_port, write_jsonl
from tests.servers import serve

pytestmark = pytest.mark.slow


@pytest.fixture
def chroma_server(tmp_path: Path) -> Iterator[int]:
    port = free_port()
    proc = start_chroma(tmp_path / "server-data", port, tmp_path / "chroma.log")
    try:
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


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
    a, url_a = serve(tmp_path / "replica-a", tmp_path / "a.log", env)
    b, url_b = serve(tmp_path / "replica-b", tmp_path / "b.log", env)
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


def test_chroma_killed_and_restarted_mid_session(tmp_path: Path) -> None:
    """Requests during the outage get a clear 503; service resumes by itself; nothing lost or doubled."""
    port, data = free_port(), tmp_path / "server-data"
    chroma = start_chroma(data, port, tmp_path / "chroma.log")
    env = {"RAG_CHROMA_HOST": "127.0.0.1", "RAG_CHROMA_PORT": str(port)}
    app, url = serve(tmp_path / "replica", tmp_path / "serve.log", env)
    stories = [{"id": f"s{i}", "url": f"https://z.example/{i}", "published": "2026-02-03",
                "text": f"The harbour of Port {name} handled {n} ships on Monday, officials said."}
               for i, (name, n) in enumerate([("Alder", "1,200"), ("Birch", "640")])]
    q = {"question": "How many ships did the harbour of Port Alder handle?"}
    try:
        assert httpx.post(f"{url}/api/ingest", json={"articles": stories}, timeout=120).json()["added"] == 2
        before = httpx.post(f"{url}/api/ask", json=q, timeout=60).json()
        assert "1,200 ships" in before["text"]
        chunks = httpx.get(f"{url}/healthz", timeout=30).json()["chunks"]

        chroma.kill()
        chroma.wait(timeout=30)
        for call in (lambda: httpx.post(f"{url}/api/ask", json=q, timeout=60),
                     lambda: httpx.post(f"{url}/api/ingest", json={"articles": stories}, timeout=60),
                     lambda: httpx.get(f"{url}/healthz", timeout=60)):
            down = call()
            assert down.status_code == 503 and "Chroma server" in down.json()["error"]
            assert "Traceback" not in down.text
        streamed = httpx.post(f"{url}/api/ask", json={**q, "stream": True}, timeout=60).text
        assert "event: error" in streamed and "unreachable" in streamed

        chroma = start_chroma(data, port, tmp_path / "chroma.log")  # same data, same port
        after = httpx.post(f"{url}/api/ask", json=q, timeout=60).json()
        assert after["text"] == before["text"] and after["citations"] == before["citations"]
        again = httpx.post(f"{url}/api/ingest", json={"articles": stories}, timeout=120).json()
        assert again["unchanged"] == 2 and again["added"] == 0
        health = httpx.get(f"{url}/healthz", timeout=30).json()
        assert health["articles"] == 2 and health["chunks"] == chunks
    finally:
        app.terminate()
        app.wait(timeout=30)
        chroma.terminate()
        chroma.wait(timeout=30)


class _TokenProxy(http.server.BaseHTTPRequestHandler):
    """The usual way to give `chroma run` TLS and auth: a proxy in front that checks a bearer token."""

    upstream = ""
    token = ""
    seen_auth: list[str] = []

    def _forward(self) -> None:
        auth = self.headers.get("Authorization", "")
        type(self).seen_auth.append(auth)
        body = self.rfile.read(int(self.headers.get("Content-Length", 0) or 0))
        if auth != f"Bearer {self.token}":
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            payload = b'{"error": "Unauthorized", "message": "bad token"}'
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "authorization", "content-length")}
        resp = httpx.request(self.command, self.upstream + self.path, content=body, headers=headers, timeout=60)
        self.send_response(resp.status_code)
        for k, v in resp.headers.items():
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(resp.content)))
        self.end_headers()
        self.wfile.write(resp.content)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

    def log_message(self, format: str, *args: object) -> None:
        pass


def test_server_behind_tls_and_a_token(tmp_path: Path, chroma_server: int, hashing: HashingEmbedder,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    _TokenProxy.upstream, _TokenProxy.token = f"http://127.0.0.1:{chroma_server}", "chroma-secret-7"
    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _TokenProxy)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    proxy.socket = context.wrap_socket(proxy.socket, server_side=True)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        settings = load_settings(data_dir=tmp_path / "client", corpus="secured", embed_backend="hashing",
                                 chroma_host="127.0.0.1", chroma_port=proxy.server_address[1], chroma_ssl=True,
                                 chroma_ca_file=cert, chunk_size=64, chunk_overlap=8)
        monkeypatch.setenv("CHROMA_AUTH_TOKEN", "chroma-secret-7")
        report = ingest([write_jsonl(tmp_path / "a.jsonl", [article(i) for i in range(3)])], settings)
        assert report.ok and report.added == 3
        assert Engine(settings, embedder=hashing).ask("How many people attended the meeting?").passages
        assert set(_TokenProxy.seen_auth) == {"Bearer chroma-secret-7"}
        monkeypatch.setenv("CHROMA_AUTH_TOKEN", "wrong")
        with pytest.raises(RagError) as err:
            ChunkStore(settings).stats()
        assert "Chroma" in str(err.value)
        # Without the private CA the certificate is refused, with a clear message.
        with pytest.raises(RagError, match="Chroma"):
            ChunkStore(settings.model_copy(update={"chroma_ca_file": None})).stats()
    finally:
        proxy.shutdown()


def test_migrate_copies_a_corpus_to_the_server(tmp_path: Path, chroma_server: int, hashing: HashingEmbedder) -> None:
    local = load_settings(data_dir=tmp_path / "local", corpus="moving", embed_backend="hashing",
                          chunk_size=64, chunk_overlap=8)
    assert ingest([write_jsonl(tmp_path / "a.jsonl", [article(i) for i in range(5)])], local).added == 5
    command = [sys.executable, "-m", "ui.cli", "--data-dir", str(local.data_dir), "--corpus", "moving",
               "migrate", "--to-host", "127.0.0.1", "--to-port", str(chroma_server)]
    for _ in range(2):  # re-running is safe: upserts by id
        done = subprocess.run(command, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "Copied" in done.stdout
    served = local.model_copy(update={"chroma_host": "127.0.0.1", "chroma_port": chroma_server})
    before, after = ChunkStore(local).dump(), ChunkStore(served).dump()
    assert before.keys() == after.keys()
    for cid, (text, meta, vector) in before.items():
        assert after[cid][0] == text and after[cid][1] == meta
        assert max(abs(a - b) for a, b in zip(after[cid][2], vector)) < 1e-6
    # The copy is a working corpus: ingest sees it as complete, retrieval finds its articles.
    assert ingest([write_jsonl(tmp_path / "a.jsonl", [article(i) for i in range(5)])], served).unchanged == 5
    assert Engine(served, embedder=hashing).search("wildfire report meeting")


def test_chroma_restarted_under_load(tmp_path: Path) -> None:
    """Four clients ask without pause while the Chroma server is killed and started again: each
    answer is the one from before or a 503 naming the Chroma server, never another error; once
    Chroma is back every client gets answers again, the same as before."""
    import threading
    import time

    port, data = free_port(), tmp_path / "server-data"
    chroma = start_chroma(data, port, tmp_path / "chroma.log")
    env = {"RAG_CHROMA_HOST": "127.0.0.1", "RAG_CHROMA_PORT": str(port), "RAG_RATE_LIMIT": ""}
    app, url = serve(tmp_path / "replica", tmp_path / "serve.log", env)
    story = {"id": "s0", "url": "https://z.example/0", "published": "2026-02-03",
             "text": "The harbour of Port Alder handled 1,200 ships on Monday, officials said."}
    q = {"question": "How many ships did the harbour of Port Alder handle?"}
    seen: list[tuple[float, int, str]] = []
    try:
        assert httpx.post(f"{url}/api/ingest", json={"articles": [story]}, timeout=120).json()["added"] == 1
        reference = httpx.post(f"{url}/api/ask", json=q, timeout=60).json()["text"]
        started, stop = time.monotonic(), threading.Event()

        def client() -> None:
            with httpx.Client(base_url=url, timeout=30) as c:
                while not stop.is_set():
                    res = c.post("/api/ask", json=q)
                    body = res.json()
                    seen.append((time.monotonic() - started, res.status_code, body.get("text") or body.get("error", "")))

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(3)
        chroma.kill()
        chroma.wait(timeout=30)
        down_at = time.monotonic() - started
        time.sleep(3)
        chroma = start_chroma(data, port, tmp_path / "chroma.log")  # same data, same port
        up_at = time.monotonic() - started
        time.sleep(4)
        stop.set()
        for t in threads:
            t.join(timeout=60)
    finally:
        app.terminate()
        app.wait(timeout=30)
        chroma.terminate()
        chroma.wait(timeout=30)
    statuses = {s for _, s, _ in seen}
    assert statuses <= {200, 503}, statuses
    assert all(text == reference for _, s, text in seen if s == 200)
    assert all("Chroma server" in text for _, s, text in seen if s == 503)
    assert any(s == 503 for t, s, _ in seen if down_at < t < up_at)  # the outage was seen...
    assert any(s == 200 for t, s, _ in seen if t < down_at) and any(s == 200 for t, s, _ in seen if t > up_at + 1)
    assert [s for t, s, _ in seen if t > up_at + 2] and all(s == 200 for t, s, _ in seen if t > up_at + 2)  # ...and over
