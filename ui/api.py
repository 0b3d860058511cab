"""The HTTP API portals embed: ask (JSON or server-sent events), search, articles,
ingest, delete, health, and an OpenAI-compatible chat endpoint.

All answering goes through :class:`rag.pipeline.Engine`; this module only
translates HTTP. Errors of ours map to status codes with the body
``{"ok": false, "error": message}``; API keys, when configured, are required
as ``Authorization: Bearer`` and never logged.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any, Literal

from fastapi import Depends, FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, Field

from rag.errors import (
    BackendError,
    BackendUnavailable,
    ConfigError,
    IndexNotFound,
    InputError,
    RagError,
)
from index.embed import make_embedder
from index.store import ChunkStore
from rag.pipeline import Engine
from rag.settings import Settings
from rag.types import Answer, Filters

log = logging.getLogger("rag.api")

_STATUS = {
    ConfigError: 400,
    InputError: 400,
    IndexNotFound: 404,
    BackendUnavailable: 503,
    BackendError: 502,
}


class FiltersIn(BaseModel):
    """Metadata filters of a request."""

    date_from: date | None = None
    date_to: date | None = None
    sources: list[str] = Field(default_factory=list)
    reference_date: date | None = None

    def to_filters(self) -> Filters:
        """As the engine's type."""
        return Filters(self.date_from, self.date_to, tuple(self.sources), self.reference_date)


class Turn(BaseModel):
    """One earlier exchange of the conversation."""

    question: str
    answer: str


class AskIn(BaseModel):
    """``POST /api/ask``."""

    question: str
    history: list[Turn] = Field(default_factory=list)
    filters: FiltersIn = Field(default_factory=FiltersIn)
    stream: bool = False


class ChatMessage(BaseModel):
    """An OpenAI chat message (text content only)."""

    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """The message's text, joining content parts."""
        if isinstance(self.content, list):
            return "".join(str(p.get("text", "")) for p in self.content if isinstance(p, dict))
        return self.content or ""


class ChatIn(BaseModel):
    """``POST /v1/chat/completions`` (the fields we use; others are accepted and ignored)."""

    model: str = "newsrag"
    messages: list[ChatMessage]
    stream: bool = False


class ArticleIn(BaseModel):
    """An article posted as JSON to ``/api/ingest``."""

    text: str
    url: str | None = None
    title: str | None = None
    source: str | None = None
    published: str | None = None
    authors: list[str] = Field(default_factory=list)
    id: str | None = None


class IngestIn(BaseModel):
    """``POST /api/ingest`` with JSON articles."""

    articles: list[ArticleIn]


def _keys(settings: Settings, write: bool) -> list[str]:
    raw = os.environ.get(settings.api_write_keys_env if write else settings.api_keys_env, "")
    return [k.strip() for k in raw.split(",") if k.strip()]


def create_app(settings: Settings, *, engine: Engine | None = None) -> FastAPI:
    """The API app for one corpus. The engine is built on first use if not given."""
    app = FastAPI(title="newsrag", version="0.1.0", description=__doc__)
    state: dict[str, Any] = {"engine": engine, "embedder": engine.embedder if engine else None}
    lock = threading.Lock()

    def get_embedder() -> Any:
        with lock:
            if state["embedder"] is None:
                state["embedder"] = make_embedder(settings)
            return state["embedder"]

    def get_engine() -> Engine:
        embedder = get_embedder()
        with lock:
            if state["engine"] is None:
                state["engine"] = Engine(settings, embedder=embedder)
            return state["engine"]

    def ingest_path(path: Path) -> dict[str, Any]:
        # Not through the engine: ingest must work on a corpus that does not exist yet.
        engine = state["engine"]
        store = engine.store if engine is not None else ChunkStore(settings)
        return _ingest(path, store, get_embedder(), settings)

    def authorize(request: Request, *, write: bool) -> None:
        read_keys, write_keys = _keys(settings, False), _keys(settings, True)
        if not read_keys and not write_keys:
            return  # open: no key configured
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if not token:
            raise HTTPException(401, "Missing API key: send Authorization: Bearer <key>")
        allowed = write_keys if write else read_keys + write_keys
        if not any(hmac.compare_digest(token, k) for k in allowed):
            if not write or not any(hmac.compare_digest(token, k) for k in read_keys):
                raise HTTPException(401, "Unknown API key")
            raise HTTPException(403, "This key may read but not write: use a write-scoped key")

    def reader(request: Request) -> None:
        authorize(request, write=False)

    def writer(request: Request) -> None:
        authorize(request, write=True)

    @app.middleware("http")
    async def limit_body(request: Request, call_next: Any) -> Any:
        length = request.headers.get("content-length")
        if length and int(length) > settings.max_request_mb * 1024 * 1024:
            return JSONResponse({"ok": False, "error": f"Request body above {settings.max_request_mb:g} MB"}, 413)
        started = time.perf_counter()
        response = await call_next(request)
        # Structured access log: path, status, latency. Never headers (keys live there).
        log.info(json.dumps({"path": request.url.path, "status": response.status_code,
                             "ms": round((time.perf_counter() - started) * 1000, 1)}))
        return response

    @app.exception_handler(RagError)
    async def rag_error(request: Request, exc: RagError) -> JSONResponse:
        status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 500)
        return JSONResponse({"ok": False, "error": str(exc)}, status_code=status)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"ok": False, "error": exc.detail}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return JSONResponse({"ok": False, "error": f"Invalid request: {problems}"}, status_code=422)

    def check_question(question: str) -> str:
        question = question.strip()
        if not question:
            raise HTTPException(422, "The question is empty")
        if len(question) > settings.max_question_chars:
            raise HTTPException(422, f"The question is longer than {settings.max_question_chars} characters")
        return question

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        """Liveness and the corpus size."""
        st = get_engine().store.stats()
        return {"ok": True, "corpus": st.corpus, "articles": st.articles, "chunks": st.chunks}

    @app.post("/api/ask", dependencies=[Depends(reader)], response_model=None)
    def ask(body: AskIn, request: Request) -> Any:
        """A verified answer; ``stream`` (or ``Accept: text/event-stream``) sends server-sent events:
        ``delta`` events with draft text, then one ``answer`` event with the verified Answer."""
        question = check_question(body.question)
        history = [(t.question, t.answer) for t in body.history]
        filters = body.filters.to_filters()
        engine = get_engine()
        if body.stream or "text/event-stream" in request.headers.get("accept", ""):
            return StreamingResponse(_sse(engine, question, history, filters), media_type="text/event-stream")
        answer = engine.ask(question, history, filters)
        _log_answer(answer)
        return answer.to_dict()

    @app.get("/api/search", dependencies=[Depends(reader)])
    def search(
        q: str = Query(..., description="Search text"),
        k: int = Query(8, ge=1, le=50),
        date_from: date | None = None,
        date_to: date | None = None,
        source: list[str] = Query(default_factory=list),
    ) -> dict[str, Any]:
        """Passages for a query, best first."""
        passages = get_engine().search(check_question(q), Filters(date_from, date_to, tuple(source)), k=k)
        return {"ok": True, "passages": [p.__dict__ for p in passages]}

    @app.get("/api/articles", dependencies=[Depends(reader)])
    def articles(limit: int = Query(100, ge=1, le=10_000), offset: int = Query(0, ge=0)) -> dict[str, Any]:
        """Stored articles (one row each) and corpus statistics."""
        store = get_engine().store
        rows = sorted(store.first_chunks(), key=lambda m: (m.get("published", ""), m.get("url", "")), reverse=True)
        keep = ("article_id", "document_id", "url", "title", "source", "published", "n_chunks", "near_dup_of")
        st = store.stats()
        return {
            "ok": True,
            "total": len(rows),
            "articles": [{k: m.get(k) for k in keep} for m in rows[offset : offset + limit]],
            "sources": dict(st.sources),
            "published": [st.first_published, st.last_published],
        }

    @app.delete("/api/articles/{article_id}", dependencies=[Depends(writer)])
    def delete_article(article_id: str) -> dict[str, Any]:
        """Delete an article by its id (as given at ingest, or the stored key)."""
        store = get_engine().store
        n_articles = n_chunks = 0
        for where in ({"article_id": article_id}, {"document_id": article_id}):
            a, c = store.delete_articles(where)
            n_articles, n_chunks = n_articles + a, n_chunks + c
        if not n_articles:
            raise HTTPException(404, f"No article with id {article_id!r}")
        return {"ok": True, "articles": n_articles, "chunks": n_chunks}

    @app.post("/api/ingest", dependencies=[Depends(writer)])
    def ingest_json(body: IngestIn) -> dict[str, Any]:
        """Ingest articles posted as JSON (the JSONL schema, one object per article)."""
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "upload.jsonl"
            path.write_text("".join(a.model_dump_json(exclude_none=True) + "\n" for a in body.articles))
            return ingest_path(path)

    @app.post("/api/ingest/file", dependencies=[Depends(writer)])
    def ingest_file(file: UploadFile = File(...)) -> dict[str, Any]:
        """Ingest one uploaded file (JSONL, .txt, .md, .html or .pdf)."""
        name = Path(file.filename or "upload.txt").name
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / name
            path.write_bytes(file.file.read())
            return ingest_path(path)

    @app.post("/v1/chat/completions", dependencies=[Depends(reader)], response_model=None)
    def chat(body: ChatIn) -> Any:
        """OpenAI-compatible: the last user message is the question, earlier turns the history.
        The reply carries ``citations`` next to the message."""
        turns = [m for m in body.messages if m.role in ("user", "assistant")]
        if not turns or turns[-1].role != "user":
            raise HTTPException(422, "The last message must be the user's question")
        question = check_question(turns[-1].text())
        history: list[tuple[str, str]] = []
        for i in range(len(turns) - 1):
            if turns[i].role == "user" and turns[i + 1].role == "assistant":
                history.append((turns[i].text(), turns[i + 1].text()))
        engine = get_engine()
        cid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
        if body.stream:
            return StreamingResponse(_openai_sse(engine, question, history, body.model, cid, created),
                                     media_type="text/event-stream")
        answer = engine.ask(question, history)
        _log_answer(answer)
        return {
            "id": cid, "object": "chat.completion", "created": created, "model": body.model,
            "choices": [{"index": 0, "finish_reason": "stop",
                         "message": {"role": "assistant", "content": answer.text}}],
            "citations": [_citation(c) for c in answer.to_dict()["citations"]],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
        }

    return app


def _citation(c: dict[str, Any]) -> dict[str, Any]:
    p = c["passage"]
    return {"n": c["n"], "url": p["url"], "title": p["title"], "source": p["source"], "published": p["published"],
            "deep_link": c["deep_link"], "quotes": [p["text"][s:e] for s, e in c["spans"]]}


def _log_answer(answer: Answer) -> None:
    log.info(json.dumps({"event": "answer", "status": answer.status, "ms": answer.timings.get("total_ms"),
                         "sources": sorted({c.passage.url for c in answer.citations})}))


def _event(name: str, data: Any) -> str:
    return f"event: {name}\ndata: {json.dumps(data, default=str)}\n\n"


def _sse(engine: Engine, question: str, history: list[tuple[str, str]], filters: Filters) -> Iterator[str]:
    try:
        for piece in engine.ask_stream(question, history, filters):
            if isinstance(piece, Answer):
                _log_answer(piece)
                yield _event("answer", piece.to_dict())
            else:
                yield _event("delta", {"text": piece})
    except RagError as exc:
        yield _event("error", {"ok": False, "error": str(exc)})


def _openai_sse(
    engine: Engine, question: str, history: list[tuple[str, str]], model: str, cid: str, created: int
) -> Iterator[str]:
    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(body, default=str)}\n\n"

    yield chunk({"role": "assistant", "content": ""})
    try:
        for piece in engine.ask_stream(question, history):
            if isinstance(piece, Answer):
                # Drafts are not streamed here: an OpenAI client cannot take text back,
                # so it receives only the verified answer.
                _log_answer(piece)
                yield chunk({"content": piece.text})
                yield chunk({}, "stop", citations=[_citation(c) for c in piece.to_dict()["citations"]])
    except RagError as exc:
        yield chunk({"content": f"Error: {exc}"}, "stop")
    yield "data: [DONE]\n\n"


def _ingest(path: Path, store: ChunkStore, embedder: Any, settings: Settings) -> dict[str, Any]:
    from index.ingest import ingest

    report = ingest([path], settings, store=store, embedder=embedder)
    return {
        "ok": report.ok,
        "added": report.added,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "chunks": report.chunks_written,
        "near_duplicates": [nd.__dict__ for nd in report.near_duplicates],
        "errors": [str(e) for e in report.errors],
    }
