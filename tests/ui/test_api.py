"""The HTTP API against live `rag serve` processes on loopback (real embedder,
real Chroma store), with httpx and with the OpenAI SDK as a portal would use it: smoke tests
of what only a live server shows. Status codes, keys, scopes, limits and headers are tested
in-process, faster, in tests/ui/test_api_inprocess.py."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from rag.tokens import cl100k
from tests.servers import NewsSite, rag_cli, serve

pytestmark = pytest.mark.slow
READ_KEY, WRITE_KEY = "read-key-5f2c", "write-key-9a1e"
EMBED_SECRET = "embed-secret-0123456789"


@pytest.fixture(scope="module")
def data(sample_data: Path) -> Path:
    return sample_data


@pytest.fixture(scope="module")
def server(data: Path) -> Iterator[str]:
    proc, url = serve(data, data / "open.log")
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_health_and_schema(server: str) -> None:
    health = httpx.get(f"{server}/healthz", timeout=60).json()
    assert health["ok"] and health["corpus"] == "apitest" and health["articles"] == 1 and health["chunks"] >= 3
    paths = httpx.get(f"{server}/openapi.json").json()["paths"]
    assert {"/api/ask", "/api/search", "/api/ingest", "/api/articles", "/v1/chat/completions", "/v1/models",
            "/metrics"} <= set(paths)


def test_ask_json_and_sse(server: str) -> None:
    q = {"question": "How many more militants did security forces kill in Balochistan?"}
    ans = httpx.post(f"{server}/api/ask", json=q, timeout=60).json()
    assert ans["status"] == "answered" and "22 more" in ans["text"] and "[1]" in ans["text"]
    cit = ans["citations"][0]
    assert cit["passage"]["published"] == "2026-02-04" and cit["spans"]
    with httpx.stream("POST", f"{server}/api/ask", json={**q, "stream": True}, timeout=60) as res:
        assert res.headers["content-type"].startswith("text/event-stream")
        events = [line[7:] for line in res.iter_lines() if line.startswith("event: ")]
    assert events[0] == "delta" and events[-1] == "answer" and events.count("answer") == 1


def test_follow_up_and_filters(server: str) -> None:
    first = "What happened to militants in Balochistan?"
    body = {"question": "And what did the minister say?",
            "history": [{"question": first, "answer": "Security forces killed 22 more [1]."}]}
    ans = httpx.post(f"{server}/api/ask", json=body, timeout=60).json()
    assert "Khawaja Asif" in ans["text"]
    none = httpx.post(f"{server}/api/ask", timeout=60,
                      json={"question": first, "filters": {"date_to": "2020-01-01"}}).json()
    assert none["refused"] and none["status"] == "no_evidence"


def test_ingest_search_articles_delete(server: str) -> None:
    article = {"id": "zep-1", "url": "https://z.example/zeppelin", "title": "Zeppelin museum opens",
               "source": "z.example", "published": "2026-02-03",
               "text": "A zeppelin museum opened in Friedrichshafen on Tuesday, drawing 4,000 visitors."}
    res = httpx.post(f"{server}/api/ingest", json={"articles": [article]}, timeout=120).json()
    assert res["ok"] and res["added"] == 1
    hits = httpx.get(f"{server}/api/search", params={"q": "zeppelin museum visitors", "k": 3}).json()["passages"]
    assert hits[0]["url"] == "https://z.example/zeppelin"
    only = httpx.get(f"{server}/api/search", params={"q": "zeppelin museum", "source": "nowhere.example"}).json()
    assert only["passages"] == []
    listed = httpx.get(f"{server}/api/articles").json()
    assert listed["total"] == 2 and [a["published"] for a in listed["articles"]] == ["2026-02-04", "2026-02-03"]
    assert listed["articles"][1]["article_id"] == "zep-1"
    assert httpx.delete(f"{server}/api/articles/zep-1").json()["articles"] == 1
    again = httpx.delete(f"{server}/api/articles/zep-1")
    assert again.status_code == 404 and again.json() == {"ok": False, "error": "No article with id 'zep-1'"}


def test_users_behind_a_trusted_proxy_get_a_budget_each(data: Path) -> None:
    env = {"RAG_RATE_LIMIT": "2/minute", "RAG_TRUSTED_PROXIES": '["127.0.0.1"]'}
    proc, url = serve(data, data / "proxy.log", env)
    try:
        def ask(user: str) -> int:
            return httpx.get(f"{url}/api/search", params={"q": "Balochistan"},
                             headers={"X-Forwarded-For": user}, timeout=60).status_code

        assert [ask("198.51.100.1") for _ in range(3)] == [200, 200, 429]
        assert [ask("198.51.100.2") for _ in range(2)] == [200, 200]  # another user behind the same proxy
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_urls_and_feeds_ingested_through_the_api(tmp_path: Path) -> None:
    site = NewsSite()
    data = tmp_path / "data"
    assert rag_cli(data, "ingest", "--sample", "--quiet").wait(timeout=300) == 0
    env = {"RAG_FETCH_PRIVATE_HOSTS": "true", "RAG_FETCH_DELAY": "0", "RAG_FETCH_TIMEOUT": "1", "RAG_FETCH_MAX_MB": "1"}
    proc, url = serve(data, tmp_path / "web.log", env)
    try:
        res = httpx.post(f"{url}/api/ingest", json={"urls": [f"{site.base}/a/one.html"]}, timeout=120).json()
        assert res["ok"] and res["added"] == 1 and res["fetched"]["pages"] == 1
        hits = httpx.get(f"{url}/api/search", params={"q": "wildfire Lakeside residents", "k": 1}).json()
        assert hits["passages"][0]["url"] == f"{site.base}/a/one.html"
        res = httpx.post(f"{url}/api/ingest", json={"feeds": [f"{site.base}/feed.xml"]}, timeout=120).json()
        assert res["added"] == 2 and res["fetched"]["pages_unchanged"] == 1 and res["ok"] is False, json.dumps(res)
        assert f"{site.base}/a/missing.html: HTTP 404 Not Found" in res["errors"]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        site.server.shutdown()


def test_metrics_count_questions_stages_and_ingests(server: str) -> None:
    before = httpx.get(f"{server}/metrics").text
    httpx.post(f"{server}/api/ask", json={"question": "Who is Pakistan's defence minister?"}, timeout=60)
    httpx.post(f"{server}/api/ask", json={"question": "What is the boiling point of tungsten on Mars?"}, timeout=60)
    after = httpx.get(f"{server}/metrics")
    assert after.headers["content-type"].startswith("text/plain")

    def value(text: str, sample: str) -> float:
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(sample))

    asked = 'newsrag_questions_total{channel="api",status="answered"}'
    assert value(after.text, asked) >= value(before, asked) + 1
    assert value(after.text, 'newsrag_refusals_total{channel="api"}') >= value(before, 'newsrag_refusals_total{channel="api"}') + 1
    assert value(after.text, 'newsrag_answer_stage_seconds_count{stage="retrieve"}') >= 2
    assert "newsrag_ingested_articles_total" in after.text


def test_openai_sdk_against_our_chat_endpoint(server: str) -> None:
    client = openai.OpenAI(base_url=f"{server}/v1", api_key="unused")
    assert [m.id for m in client.models.list()] == ["apitest"]
    res = client.chat.completions.create(model="apitest", messages=[
        {"role": "user", "content": "Who is Pakistan's defence minister?"}])
    assert "Khawaja Asif" in (res.choices[0].message.content or "")
    details = res.model_extra["citation_details"]  # type: ignore[index]
    assert details[0]["published"] == "2026-02-04" and details[0]["quotes"]
    # One entry per [n] (Perplexity's convention); the sample article has no URL, so its id stands in.
    assert res.model_extra["citations"] == [d["url"] or f"article:{d['article_id']}" for d in details]  # type: ignore[index]
    assert res.model_extra["citations"][0].startswith("article:")  # type: ignore[index]
    tokens = cl100k()
    assert res.usage is not None and res.usage.prompt_tokens == len(tokens("Who is Pakistan's defence minister?"))
    assert res.usage.completion_tokens == len(tokens(res.choices[0].message.content or ""))
    assert res.usage.total_tokens == res.usage.prompt_tokens + res.usage.completion_tokens

    stream = client.chat.completions.create(
        model="newsrag", stream=True, stream_options={"include_usage": True},
        messages=[{"role": "user", "content": "How many more militants did security forces kill in Balochistan?"}])
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "22 more" in text
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 5

    async def ask_async() -> str:
        aclient = openai.AsyncOpenAI(base_url=f"{server}/v1", api_key="unused")
        reply = await aclient.chat.completions.create(model="newsrag", messages=[
            {"role": "user", "content": "Who is Pakistan's defence minister?"}])
        return reply.choices[0].message.content or ""

    assert "Khawaja Asif" in asyncio.run(ask_async())

    # What we cannot honour is refused, by name, in OpenAI's error shape; so is an unknown model.
    with pytest.raises(openai.BadRequestError) as bad:
        client.chat.completions.create(model="newsrag", n=2, messages=[{"role": "user", "content": "Who?"}])
    assert bad.value.body["param"] == "n" and bad.value.body["type"] == "invalid_request_error"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError, match="tools"):
        client.chat.completions.create(model="newsrag", messages=[{"role": "user", "content": "Who?"}],
                                       tools=[{"type": "function", "function": {"name": "f", "parameters": {}}}])
    with pytest.raises(openai.NotFoundError) as missing:
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "Who?"}])
    assert missing.value.body["code"] == "model_not_found"  # type: ignore[index]
    with pytest.raises(openai.UnprocessableEntityError):
        client.chat.completions.create(model="newsrag", messages=[{"role": "user", "content": " "}])


def test_open_webui_requests_replayed(server: str) -> None:
    # The requests Open WebUI 0.6 sends to an OpenAI connection: list the models, then a streamed
    # chat with its own system prompt, sampling parameters, and usage asked for.
    headers = {"Authorization": "Bearer sk-unused", "Content-Type": "application/json"}
    models = httpx.get(f"{server}/v1/models", headers=headers, timeout=30).json()
    assert models["object"] == "list" and models["data"][0] == {
        "id": "apitest", "object": "model", "created": 0, "owned_by": "newsrag"}
    body = {"model": models["data"][0]["id"], "stream": True, "stream_options": {"include_usage": True},
            "temperature": 0.8, "top_p": 0.9, "max_tokens": 512, "user": "u-1",
            "messages": [{"role": "system", "content": "You are a helpful assistant."},
                         {"role": "user", "content": [{"type": "text", "text": "Who is Pakistan's defence minister?"}]}]}
    with httpx.stream("POST", f"{server}/v1/chat/completions", json=body, headers=headers, timeout=60) as res:
        assert res.status_code == 200 and res.headers["content-type"].startswith("text/event-stream")
        events = [line[6:] for line in res.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert "Khawaja Asif" in "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert chunks[-1]["usage"]["prompt_tokens"] > 0 and chunks[-2]["citations"]


def test_connections_that_send_no_request_are_closed(data: Path) -> None:
    # Found by the load test: uvicorn kept such connections for ever, each holding a file, until
    # the server ran out of them. header_timeout (here 1 s) closes them; requests still work.
    import socket
    from urllib.parse import urlsplit

    proc, url = serve(data, data / "idle.log", {"RAG_HEADER_TIMEOUT": "1"})
    try:
        where = urlsplit(url)
        openings = [b"", b"GET /healthz HT", b"GET /healthz HTTP/1.1\r\nHost: x\r\n"]  # silent, half a line, no end
        socks = []
        for opening in openings:
            s = socket.create_connection((where.hostname, where.port), timeout=10)
            s.sendall(opening)
            socks.append(s)
        with httpx.Client(base_url=url, timeout=30) as client:  # a kept-alive client
            assert client.get("/healthz").status_code == 200
            started = time.monotonic()
            for s in socks:
                assert s.recv(1024) == b""  # closed by the server (recv waits up to 10 s)
                s.close()
            assert time.monotonic() - started < 8
            assert client.get("/healthz").status_code == 200  # a new connection after the idle one closed
        limits = Path(f"/proc/{proc.pid}/limits").read_text()
        soft, hard = next(line for line in limits.splitlines() if line.startswith("Max open files")).split()[3:5]
        assert soft == hard  # the soft open-files limit raised to the hard one
    finally:
        proc.terminate()
        proc.wait(timeout=30)
