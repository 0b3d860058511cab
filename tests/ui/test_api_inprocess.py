"""Status codes, keys and scopes, embed tokens, rate limits, headers and error shapes of the
HTTP API, in-process through the ASGI app (FastAPI's TestClient) with the hashing embedder:
the same checks as against a live server, in a fraction of the time. tests/ui/test_api.py
keeps real ``rag serve`` processes for what only a live server shows (the real embedder's
answers, the OpenAI SDK over a socket, uvicorn's proxy headers)."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from index.ingest import ingest
from index.load import sample_dir
from rag import embed
from rag.settings import Settings, load_settings
from tests.fakes import HashingEmbedder
from ui.api import create_app
from ui.feedback import FeedbackStore

READ_KEY, WRITE_KEY = "read-key-5f2c", "write-key-9a1e"
EMBED_SECRET = "embed-secret-0123456789"
QUESTION = {"question": "Who is Pakistan's defence minister?"}


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("api-inprocess")
    fake = HashingEmbedder()
    embed.register("hashing", lambda s: fake)
    try:
        ingest([sample_dir()], _settings(d))
    finally:
        embed.unregister("hashing")
    return d


def _settings(data: Path, **overrides: object) -> Settings:
    return load_settings(**{"data_dir": data, "corpus": "apitest", "embed_backend": "hashing", "ui_upload": False,
                            **overrides})


@pytest.fixture
def app(data: Path, hashing: HashingEmbedder) -> Iterator[object]:
    """``app(**settings)``: a TestClient on a new app over the shared store."""
    opened: list[TestClient] = []

    def make(**overrides: object) -> TestClient:
        client = TestClient(create_app(_settings(data, **overrides)), raise_server_exceptions=False)
        opened.append(client.__enter__())
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_API_KEYS", READ_KEY)
    monkeypatch.setenv("RAG_API_WRITE_KEYS", WRITE_KEY)
    monkeypatch.setenv("RAG_EMBED_SECRET", EMBED_SECRET)


def test_bad_requests_get_clear_errors(app: object) -> None:
    c = app()  # type: ignore[operator]
    empty = c.post("/api/ask", json={"question": "  "})
    assert empty.status_code == 422 and empty.json() == {"ok": False, "error": "The question is empty"}
    long = c.post("/api/ask", json={"question": "why " * 1000})
    assert long.status_code == 422 and "longer than 2000" in long.json()["error"]
    bad = c.post("/api/ask", json={"questio": "typo"})
    assert bad.status_code == 422 and bad.json()["error"].startswith("Invalid request: body.question")
    huge = c.post("/api/ingest", content=b"x" * (21 * 1024 * 1024), headers={"content-type": "application/json"})
    assert huge.status_code == 413 and huge.json()["ok"] is False
    assert c.post("/api/ingest", json={}).status_code == 422


def test_whose_fault_the_status_says(app: object, monkeypatch: pytest.MonkeyPatch) -> None:
    c = app()  # type: ignore[operator]
    # The client's: a corpus name that is not one (400), a corpus never ingested (404).
    assert c.post("/api/ask", json={**QUESTION, "corpus": "x"}).status_code == 400
    missing = c.post("/api/ask", json={**QUESTION, "corpus": "elsewhere"})
    assert missing.status_code == 404 and "elsewhere" in missing.json()["error"]
    # The server's: no embed secret set (500, the message names the variable for its operator).
    no_secret = c.post("/api/embed-token", json={})
    assert no_secret.status_code == 500 and "RAG_EMBED_SECRET" in no_secret.json()["error"]
    # A backend's: the OpenAI generator with no key and no server (503).
    other = app(generator="openai")  # type: ignore[operator]
    unavailable = other.post("/api/ask", json=QUESTION)
    assert unavailable.status_code == 503 and "OPENAI_API_KEY" in unavailable.json()["error"]
    assert other.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "Who?"}]}).json()[
        "error"]["type"] == "server_error"


def test_api_keys_and_scopes(app: object, keys: None, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    c = app()  # type: ignore[operator]
    read = {"Authorization": f"Bearer {READ_KEY}"}
    write = {"Authorization": f"Bearer {WRITE_KEY}"}
    assert c.post("/api/ask", json=QUESTION).status_code == 401
    wrong = c.post("/api/ask", json=QUESTION, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401 and wrong.json()["ok"] is False
    assert c.post("/api/ask", json=QUESTION, headers=read).status_code == 200
    assert c.post("/api/ask", json=QUESTION, headers=write).status_code == 200
    denied = c.delete("/api/articles/nothing", headers=read)
    assert denied.status_code == 403 and "write-scoped" in denied.json()["error"]
    assert c.delete("/api/articles/nothing", headers=write).status_code == 404
    assert c.post("/v1/chat/completions", headers=read,
                  json={"model": "newsrag", "messages": [{"role": "user", "content": QUESTION["question"]}]}
                  ).status_code == 200
    assert c.get("/metrics").status_code == 401 and c.get("/metrics", headers=read).status_code == 200

    # Embed tokens: issued for a key, good for reading until they expire, never for writing.
    assert c.post("/api/embed-token", json={}).status_code == 401
    issued = c.post("/api/embed-token", json={"portal": "intranet", "ttl": 99999}, headers=read).json()
    token = issued["token"]
    assert issued["expires_at"] - time.time() <= 900 + 5  # capped by embed_token_ttl
    as_token = {"Authorization": f"Bearer {token}"}
    assert c.post("/api/ask", json=QUESTION, headers=as_token).status_code == 200
    assert c.delete("/api/articles/nothing", headers=as_token).status_code == 403
    other = c.post("/api/ask", json={**QUESTION, "corpus": "elsewhere"}, headers=as_token)
    assert other.status_code == 403 and "apitest" in other.json()["error"]  # the token's corpus only
    assert [m["id"] for m in c.get("/v1/models", headers=as_token).json()["data"]] == ["apitest"]
    assert c.get("/embed", params={"token": READ_KEY}).status_code == 401  # keys stay out of URLs
    latin1 = {"Authorization": "Bearer cl\xe9".encode("latin-1")}  # not ASCII: refused, not a crash
    assert c.post("/api/ask", json=QUESTION, headers=latin1).status_code == 401  # type: ignore[arg-type]
    assert c.post("/api/embed-token", json={}, headers=as_token).status_code == 403
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    assert c.post("/api/ask", json=QUESTION, headers={"Authorization": f"Bearer {tampered}"}).status_code == 401
    assert c.get("/embed").status_code == 401
    page = c.get("/embed", params={"token": token})
    assert page.status_code == 200 and "embed/ask" in page.text
    short = c.post("/api/embed-token", json={"ttl": 30}, headers=read).json()["token"]
    events = c.post("/embed/ask", json={"question": QUESTION["question"], "turn": 2},
                    headers={"Authorization": f"Bearer {short}"}).text
    final = json.loads(events.split("event: answer\ndata: ")[1].split("\n")[0])
    assert 'href="#rag-c-2-' in final["html"] and "<mark>" in final["panel"]
    # The chat is not a way around the keys: no chat users configured, so it is off.
    off = c.get("/")
    assert off.status_code == 403 and "RAG_UI_USERS" in off.text

    # The server's logs (the test client's own log names the URLs it requested).
    logged = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    assert '"path": "/api/ask"' in logged  # structured access logs are written...
    assert READ_KEY not in logged and WRITE_KEY not in logged and token not in logged  # ...without secrets
    assert json.loads(next(line for line in logged.splitlines() if '"event": "answer"' in line))["status"]


def test_limits_cors_frames_and_feedback(app: object, data: Path) -> None:
    fb_path = data / "fb-inprocess.sqlite"
    c = app(rate_limit="3/minute", cors_origins=["https://portal.example"],  # type: ignore[operator]
            frame_ancestors=["https://portal.example"], feedback_db=fb_path)
    codes = [c.post("/api/ask", json=QUESTION).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = c.get("/api/search", params={"q": "Balochistan"})
    assert limited.status_code == 429 and "try again" in limited.json()["error"]
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    openai_limited = c.get("/v1/models")
    assert openai_limited.status_code == 429 and openai_limited.headers["Retry-After"]
    assert openai_limited.json()["error"]["type"] == "rate_limit_error"
    # No trusted proxies: a client cannot pick its own rate-limit key with X-Forwarded-For.
    assert c.post("/api/ask", json=QUESTION, headers={"X-Forwarded-For": "203.0.113.9"}).status_code == 429
    assert c.get("/healthz").status_code == 200  # health and admin calls are not limited

    embed_page = c.get("/embed")
    assert embed_page.headers["content-security-policy"] == "frame-ancestors 'self' https://portal.example"
    assert "x-frame-options" not in embed_page.headers  # it would forbid the portal's iframe
    for path in ("/", "/healthz", "/api/articles", "/nowhere"):
        res = c.get(path)
        assert res.headers["content-security-policy"] == "frame-ancestors 'self'", path
        assert res.headers["x-frame-options"] == "SAMEORIGIN" and res.headers["referrer-policy"] == "no-referrer"
    preflight = {"Origin": "https://portal.example", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}
    ok = c.options("/api/ask", headers=preflight)
    assert ok.headers["access-control-allow-origin"] == "https://portal.example"
    other = c.options("/api/ask", headers={**preflight, "Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers

    fb = {"question": QUESTION["question"], "answer": "Khawaja Asif [1].", "rating": 1, "sources": ["u"]}
    row = c.post("/api/feedback", json=fb).json()["id"]
    again = c.post("/api/feedback", json={**fb, "comment": "right", "feedback_id": row}).json()
    assert again["id"] == row
    assert c.post("/api/feedback", json={**fb, "rating": 5}).status_code == 422
    rows = FeedbackStore(fb_path).list()
    assert len(rows) == 1 and rows[0].rating == 1 and rows[0].comment == "right"


def test_ingest_search_articles_delete(app: object, data: Path, tmp_path: Path) -> None:
    c = app(data_dir=tmp_path / "own")  # type: ignore[operator]
    article = {"id": "zep-1", "url": "https://z.example/zeppelin", "title": "Zeppelin museum opens",
               "source": "z.example", "published": "2026-02-03",
               "text": "A zeppelin museum opened in Friedrichshafen on Tuesday, drawing 4,000 visitors."}
    res = c.post("/api/ingest", json={"articles": [article]}).json()
    assert res["ok"] and res["added"] == 1
    assert c.post("/api/ingest", json={"articles": [article]}).json()["unchanged"] == 1
    hits = c.get("/api/search", params={"q": "zeppelin museum visitors", "k": 3}).json()["passages"]
    assert hits[0]["url"] == "https://z.example/zeppelin"
    assert c.get("/api/search", params={"q": "zeppelin", "source": "nowhere.example"}).json()["passages"] == []
    listed = c.get("/api/articles").json()
    assert listed["total"] == 1 and listed["articles"][0]["article_id"] == "zep-1"
    assert c.delete("/api/articles/zep-1").json()["articles"] == 1
    again = c.delete("/api/articles/zep-1")
    assert again.status_code == 404 and again.json() == {"ok": False, "error": "No article with id 'zep-1'"}
    refused = c.post("/api/ingest", json={"urls": ["http://127.0.0.1:9/admin"]}).json()
    assert refused["ok"] is False and "private or loopback" in refused["errors"][0]
    uploaded = c.post("/api/ingest/file", files={"file": ("../../etc/note.txt", b"Bridge budget: 40 million.")})
    assert uploaded.json()["added"] == 1 and not (tmp_path / "etc").exists()


def test_openapi_lists_every_resource(app: object) -> None:
    paths = app().get("/openapi.json").json()["paths"]  # type: ignore[operator]
    assert {"/api/ask", "/api/search", "/api/ingest", "/api/ingest/file", "/api/articles",
            "/api/articles/{article_id}", "/api/feedback", "/api/embed-token", "/healthz", "/metrics",
            "/v1/chat/completions", "/v1/models"} <= set(paths)
    assert not any(p.startswith("/embed") for p in paths)  # the iframe's page is not an API
