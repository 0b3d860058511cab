"""Any JSON (or not JSON at all) posted to the API gets an answer or a clear 4xx error,
never a 500 (property tests with hypothesis, in-process through the ASGI app)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings, strategies as st

from index.ingest import ingest
from index.load import sample_dir
from rag.settings import load_settings
from tests.fakes import HashingEmbedder
from ui.api import create_app

_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=10,
)
_MESSAGE = st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system", "tool", "x"])},
                                 optional={"content": _JSON})
_BODIES = {
    "/api/ask": st.fixed_dictionaries({}, optional={
        "question": _JSON, "history": _JSON, "filters": _JSON | st.fixed_dictionaries({}, optional={
            "date_from": _JSON, "date_to": _JSON, "sources": _JSON, "reference_date": _JSON}),
        "corpus": _JSON, "stream": st.booleans()}),
    "/v1/chat/completions": st.fixed_dictionaries({}, optional={
        "model": _JSON, "messages": st.lists(_MESSAGE, max_size=3) | _JSON, "stream": st.booleans(),
        "n": _JSON, "tools": _JSON, "stream_options": _JSON, "response_format": _JSON}),
    "/api/ingest": st.fixed_dictionaries({}, optional={
        "articles": st.lists(st.fixed_dictionaries({}, optional={
            k: _JSON for k in ("text", "url", "title", "source", "published", "authors", "id")}), max_size=2) | _JSON,
        "urls": st.lists(st.text(max_size=30), max_size=2) | _JSON}),
    "/api/feedback": st.fixed_dictionaries({}, optional={
        k: _JSON for k in ("question", "answer", "rating", "comment", "sources", "feedback_id", "status")}),
    "/api/embed-token": st.fixed_dictionaries({}, optional={"portal": _JSON, "ttl": _JSON, "corpus": _JSON}),
}
_CHECK = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                           HealthCheck.too_slow])


@pytest.fixture(autouse=True)
def embed_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    # A server without the secret answers embed-token requests with a 500 (its operator's
    # fault, tested in tests/ui/test_api_inprocess.py); here the requests themselves are tested.
    monkeypatch.setenv("RAG_EMBED_SECRET", "hostile-secret-0123456789")


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    from rag import embed

    fake = HashingEmbedder()
    embed.register("hashing", lambda s: fake)
    data = tmp_path_factory.mktemp("hostile")
    s = load_settings(data_dir=data, corpus="hostile", embed_backend="hashing", rate_limit="", ui_upload=False)
    ingest([sample_dir()], s)
    try:
        with TestClient(create_app(s), raise_server_exceptions=False) as c:
            yield c
    finally:
        embed.unregister("hashing")


def _check(response: object) -> None:
    status = response.status_code  # type: ignore[attr-defined]
    assert status < 500, (status, response.text[:300])  # type: ignore[attr-defined]
    if status >= 400:
        body = response.json()  # type: ignore[attr-defined]
        assert body.get("error"), body  # a message, in our shape or OpenAI's


@pytest.mark.parametrize("path", sorted(_BODIES))
def test_any_json_body(client: TestClient, path: str) -> None:
    @_CHECK
    @given(body=_BODIES[path] | _JSON)
    def run(body: object) -> None:
        _check(client.post(path, content=json.dumps(body), headers={"content-type": "application/json"}))

    run()


@_CHECK
@given(raw=st.binary(max_size=200), path=st.sampled_from(sorted(_BODIES)))
def test_bodies_that_are_not_json(client: TestClient, raw: bytes, path: str) -> None:
    _check(client.post(path, content=raw, headers={"content-type": "application/json"}))


@_CHECK
@given(q=st.text(max_size=60), k=st.text(max_size=4), source=st.text(max_size=10), date=st.text(max_size=12))
def test_any_search_query(client: TestClient, q: str, k: str, source: str, date: str) -> None:
    _check(client.get("/api/search", params={"q": q, "k": k, "source": source, "date_from": date}))


@pytest.mark.parametrize("path", ["/", "/embed", "/api/search?q=Balochistan", "/docs", "/healthz", "/metrics",
                                  "/v1/models", "/nowhere"])
def test_security_headers_on_every_page(client: TestClient, path: str) -> None:
    res = client.get(path)
    assert res.status_code < 500
    headers = res.headers
    assert headers["X-Content-Type-Options"] == "nosniff" and headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin" and "camera=()" in headers["Permissions-Policy"]
    assert headers["Content-Security-Policy"].startswith("frame-ancestors 'self'")
    # No portals are configured here, so even /embed may only be framed by its own origin
    # (test_browser checks /embed in a portal's iframe when frame_ancestors lists it).
    assert headers["X-Frame-Options"] == "SAMEORIGIN"
