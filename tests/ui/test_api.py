"""The HTTP API against live `rag serve` processes on loopback (real embedder,
real Chroma store), with httpx and with the OpenAI SDK as a portal would use it."""

from __future__ import annotations

import asyncio
import json
import subprocess
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
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("api")
    assert rag_cli(d, "ingest", "--sample", "--quiet").wait(timeout=300) == 0
    return d


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


def test_urls_posted_are_refused_on_private_addresses_by_default(server: str) -> None:
    # The server must not become a way to read its own network (fetch_private_hosts is off).
    res = httpx.post(f"{server}/api/ingest", json={"urls": ["http://127.0.0.1:9/admin"]}, timeout=60).json()
    assert res["ok"] is False and res["added"] == 0
    assert res["errors"] == ["http://127.0.0.1:9/admin: refused: '127.0.0.1' is a private or loopback address "
                             "(set fetch_private_hosts to allow)"]
    assert httpx.post(f"{server}/api/ingest", json={}, timeout=60).status_code == 422


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


def test_bad_requests_get_clear_errors(server: str) -> None:
    empty = httpx.post(f"{server}/api/ask", json={"question": "  "})
    assert empty.status_code == 422 and empty.json() == {"ok": False, "error": "The question is empty"}
    long = httpx.post(f"{server}/api/ask", json={"question": "why " * 1000})
    assert long.status_code == 422 and "longer than 2000" in long.json()["error"]
    bad = httpx.post(f"{server}/api/ask", json={"questio": "typo"})
    assert bad.status_code == 422 and bad.json()["error"].startswith("Invalid request: body.question")
    huge = httpx.post(f"{server}/api/ingest", content=b"x" * (21 * 1024 * 1024),
                      headers={"content-type": "application/json"})
    assert huge.status_code == 413 and huge.json()["ok"] is False


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


def test_api_keys_and_scopes(data: Path) -> None:
    env = {"RAG_API_KEYS": READ_KEY, "RAG_API_WRITE_KEYS": WRITE_KEY, "RAG_EMBED_SECRET": EMBED_SECRET}
    log = data / "auth.log"
    proc, url = serve(data, log, env)
    try:
        q = {"question": "Who is Pakistan's defence minister?"}
        assert httpx.post(f"{url}/api/ask", json=q, timeout=60).status_code == 401
        wrong = httpx.post(f"{url}/api/ask", json=q, headers={"Authorization": "Bearer nope"}, timeout=60)
        assert wrong.status_code == 401 and wrong.json()["ok"] is False
        read = {"Authorization": f"Bearer {READ_KEY}"}
        write = {"Authorization": f"Bearer {WRITE_KEY}"}
        assert httpx.post(f"{url}/api/ask", json=q, headers=read, timeout=60).status_code == 200
        assert httpx.post(f"{url}/api/ask", json=q, headers=write, timeout=60).status_code == 200
        denied = httpx.delete(f"{url}/api/articles/nothing", headers=read)
        assert denied.status_code == 403 and "write-scoped" in denied.json()["error"]
        assert httpx.delete(f"{url}/api/articles/nothing", headers=write).status_code == 404
        assert openai.OpenAI(base_url=f"{url}/v1", api_key=READ_KEY).chat.completions.create(
            model="newsrag", messages=[{"role": "user", "content": q["question"]}]).choices[0].message.content

        # Embed tokens: issued for a key, good for reading until they expire, never for writing.
        assert httpx.post(f"{url}/api/embed-token", json={}).status_code == 401
        issued = httpx.post(f"{url}/api/embed-token", json={"portal": "intranet", "ttl": 99999}, headers=read).json()
        token = issued["token"]
        assert issued["expires_at"] - time.time() <= 900 + 5  # capped by embed_token_ttl
        as_token = {"Authorization": f"Bearer {token}"}
        assert httpx.post(f"{url}/api/ask", json=q, headers=as_token, timeout=60).status_code == 200
        assert httpx.delete(f"{url}/api/articles/nothing", headers=as_token).status_code == 403
        other = httpx.post(f"{url}/api/ask", json={**q, "corpus": "elsewhere"}, headers=as_token)
        assert other.status_code == 403 and "apitest" in other.json()["error"]  # the token's corpus only
        missing = httpx.post(f"{url}/api/ask", json={**q, "corpus": "elsewhere"}, headers=read)
        assert missing.status_code == 404 and "elsewhere" in missing.json()["error"]
        assert httpx.post(f"{url}/api/ask", json={**q, "corpus": "x"}, headers=read).status_code == 400
        assert httpx.get(f"{url}/embed", params={"token": READ_KEY}).status_code == 401  # keys stay out of URLs
        latin1 = {"Authorization": "Bearer cl\xe9".encode("latin-1")}  # not ASCII: refused, not a crash
        assert httpx.post(f"{url}/api/ask", json=q, headers=latin1).status_code == 401
        assert httpx.post(f"{url}/api/embed-token", json={}, headers=as_token).status_code == 403
        tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
        assert httpx.post(f"{url}/api/ask", json=q, headers={"Authorization": f"Bearer {tampered}"}).status_code == 401
        assert httpx.get(f"{url}/embed").status_code == 401
        page = httpx.get(f"{url}/embed", params={"token": token})
        assert page.status_code == 200 and "embed/ask" in page.text
        short = httpx.post(f"{url}/api/embed-token", json={"ttl": 30}, headers=read).json()["token"]
        events = httpx.post(f"{url}/embed/ask", json={"question": q["question"], "turn": 2},
                            headers={"Authorization": f"Bearer {short}"}, timeout=60).text
        final = json.loads(events.split("event: answer\ndata: ")[1].split("\n")[0])
        assert 'href="#rag-c-2-' in final["html"] and "<mark>" in final["panel"]
        # The chat is not a way around the keys: no chat users configured, so it is off.
        off = httpx.get(f"{url}/")
        assert off.status_code == 403 and "RAG_UI_USERS" in off.text
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    logged = log.read_text()
    assert '"path": "/api/ask"' in logged  # structured logs are written...
    assert READ_KEY not in logged and WRITE_KEY not in logged and token not in logged  # ...without secrets
    assert json.loads(next(line for line in logged.splitlines() if '"event": "answer"' in line))["status"]


def test_limits_cors_frames_and_feedback(data: Path) -> None:
    env = {"RAG_RATE_LIMIT": "3/minute", "RAG_CORS_ORIGINS": '["https://portal.example"]',
           "RAG_FRAME_ANCESTORS": '["https://portal.example"]', "RAG_FEEDBACK_DB": str(data / "fb.sqlite")}
    proc, url = serve(data, data / "limits.log", env)
    try:
        q = {"question": "Who is Pakistan's defence minister?"}
        codes = [httpx.post(f"{url}/api/ask", json=q, timeout=60).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = httpx.get(f"{url}/api/search", params={"q": "Balochistan"})
        assert limited.status_code == 429 and "try again" in limited.json()["error"]
        assert 1 <= int(limited.headers["Retry-After"]) <= 60
        openai_limited = httpx.get(f"{url}/v1/models")
        assert openai_limited.status_code == 429 and openai_limited.headers["Retry-After"]
        assert openai_limited.json()["error"]["type"] == "rate_limit_error"
        # No trusted proxies: a client cannot pick its own rate-limit key with X-Forwarded-For.
        spoofed = httpx.post(f"{url}/api/ask", json=q, headers={"X-Forwarded-For": "203.0.113.9"}, timeout=60)
        assert spoofed.status_code == 429
        assert httpx.get(f"{url}/healthz").status_code == 200  # health and admin calls are not limited

        embed = httpx.get(f"{url}/embed")
        assert embed.headers["content-security-policy"] == "frame-ancestors 'self' https://portal.example"
        assert "x-frame-options" not in embed.headers  # it would forbid the portal's iframe
        assert httpx.get(f"{url}/").headers["content-security-policy"] == "frame-ancestors 'self'"
        assert httpx.get(f"{url}/").headers["x-frame-options"] == "SAMEORIGIN"
        preflight = {"Origin": "https://portal.example", "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "authorization,content-type"}
        ok = httpx.options(f"{url}/api/ask", headers=preflight)
        assert ok.headers["access-control-allow-origin"] == "https://portal.example"
        other = httpx.options(f"{url}/api/ask", headers={**preflight, "Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers

        fb = {"question": q["question"], "answer": "Khawaja Asif [1].", "rating": 1, "sources": ["u"]}
        row = httpx.post(f"{url}/api/feedback", json=fb).json()["id"]
        again = httpx.post(f"{url}/api/feedback", json={**fb, "comment": "right", "feedback_id": row}).json()
        assert again["id"] == row
        assert httpx.post(f"{url}/api/feedback", json={**fb, "rating": 5}).status_code == 422
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    listed = rag_cli(data, "feedback", "--json", env={"RAG_FEEDBACK_DB": str(data / "fb.sqlite")},
                  stdout=subprocess.PIPE)
    out, _ = listed.communicate(timeout=60)
    rows = json.loads(out)
    assert len(rows) == 1 and rows[0]["rating"] == 1 and rows[0]["comment"] == "right"
