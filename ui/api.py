"""One server for people and portals: the HTTP API (ask as JSON or server-sent
events, search, articles, ingest, delete, health, feedback, embed tokens, and an
OpenAI-compatible chat endpoint), the ``/embed`` page for iframes, and the
Gradio chat mounted at ``/``.

All answering goes through :class:`rag.pipeline.Engine`; this module only
translates HTTP. Errors of ours map to status codes with the body
``{"ok": false, "error": message}``; API keys, when configured, are required
as ``Authorization: Bearer`` and never logged.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any, Literal

from fastapi import Depends, FastAPI, File, HTTPException, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, StreamingResponse
from pydantic import BaseModel, Field

from rag.errors import (
    BackendError,
    BackendUnavailable,
    ConfigError,
    IndexNotFound,
    InputError,
    QuestionError,
    RagError,
)
from index.ingest import IngestReport
from rag.pipeline import Engine
from rag.settings import Settings
from rag.types import Answer, Filters
from ui.auth import Auth, Caller, RateLimiter
from ui.engines import Engines
from ui.feedback import FeedbackStore
from ui.openai_api import openai_error, openai_router
from ui.render import answer_html, head, passages_html, static

log = logging.getLogger("rag.api")

_STATUS = {
    ConfigError: 400,
    InputError: 400,
    QuestionError: 422,
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
    corpus: str | None = Field(None, description="Another corpus of the store; default: the server's.")
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
    """``POST /api/ingest``: articles as JSON, and/or URLs of pages and feeds to fetch."""

    articles: list[ArticleIn] = Field(default_factory=list)
    urls: list[str] = Field(default_factory=list, max_length=50, description="Article pages to fetch.")
    feeds: list[str] = Field(
        default_factory=list, max_length=10, description="RSS/Atom feeds whose new and changed articles to fetch."
    )


class FeedbackIn(BaseModel):
    """``POST /api/feedback``: a rating and/or comment on an answer the client received."""

    question: str = Field(max_length=4000)
    answer: str = Field(max_length=20000)
    status: str = "answered"
    generator: str = ""
    sources: list[str] = Field(default_factory=list, max_length=50)
    rating: Literal[-1, 0, 1] | None = Field(None, description="1 up, -1 down, 0 takes a thumb back; unset keeps it.")
    comment: str | None = Field(None, max_length=2000)
    corpus: str | None = None
    feedback_id: int | None = None


class EmbedTokenIn(BaseModel):
    """``POST /api/embed-token``."""

    portal: str = Field("portal", max_length=64, description="Who the token is for (logs, rate limits).")
    ttl: int | None = Field(None, ge=30, description="Seconds; capped by the embed_token_ttl setting.")
    corpus: str | None = Field(None, description="The corpus the page answers from; default: the server's.")


class EmbedAskIn(BaseModel):
    """``POST /embed/ask`` from the /embed page."""

    question: str
    history: list[Turn] = Field(default_factory=list, max_length=50)
    turn: int = Field(0, ge=0, le=10_000)


def create_app(settings: Settings) -> FastAPI:
    """The server for one settings object: API, /embed, and the Gradio chat at ``/``.

    Engines are built on first use.
    """
    app = FastAPI(title="newsrag", version="0.1.0", description=__doc__)
    engines = Engines(settings)
    auth = Auth(settings)
    limiter = RateLimiter(settings)
    feedback = FeedbackStore(settings.feedback_path)
    def caller(request: Request, *, write: bool) -> Caller:
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        host = request.client.host if request.client else "unknown"
        if auth.open:
            return Caller("write", f"ip:{host}")
        if not token:
            raise HTTPException(401, "Missing API key: send Authorization: Bearer <key>")
        who = auth.check(token)
        if who is None:
            raise HTTPException(401, "Unknown API key or expired embed token")
        if write and who.scope != "write":
            raise HTTPException(403, "This key may read but not write: use a write-scoped key")
        return who

    def reader(request: Request) -> Caller:
        return caller(request, write=False)

    def writer(request: Request) -> Caller:
        return caller(request, write=True)

    def throttle(key: str) -> None:
        wait = limiter.hit(key)
        if wait is not None:
            seconds = max(1, math.ceil(wait))
            raise HTTPException(429, f"Too many requests: try again in {seconds} s",
                                headers={"Retry-After": str(seconds)})

    def limited(who: Caller = Depends(reader)) -> Caller:
        throttle(who.id)
        return who

    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Authorization", "Content-Type"],
        )

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Any:
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > settings.max_request_mb * 1024 * 1024:
            return JSONResponse({"ok": False, "error": f"Request body above {settings.max_request_mb:g} MB"}, 413)
        started = time.perf_counter()
        response = await call_next(request)
        # Only /embed may be framed by other origins (the portals of the settings).
        ancestors = ["'self'", *settings.frame_ancestors] if request.url.path.rstrip("/") == "/embed" else ["'self'"]
        response.headers["Content-Security-Policy"] = "frame-ancestors " + " ".join(ancestors)
        if ancestors == ["'self'"]:
            response.headers["X-Frame-Options"] = "SAMEORIGIN"  # the same rule, for browsers without CSP 3
        response.headers["X-Content-Type-Options"] = "nosniff"
        # Links to sources must not tell news sites which internal page (and question) sent the reader.
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=()"
        response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
        # Structured access log: path, status, latency. Never headers or query strings (keys, tokens).
        log.info(json.dumps({"path": request.url.path, "status": response.status_code,
                             "ms": round((time.perf_counter() - started) * 1000, 1)}))
        return response

    def error(request: Request, status: int, message: str, headers: dict[str, str] | None = None,
              code: str | None = None, param: str | None = None) -> JSONResponse:
        # OpenAI clients read errors in OpenAI's shape; our own API keeps {"ok": false, "error"}.
        if request.url.path.startswith("/v1/"):
            return openai_error(status, message, code=code, param=param, headers=headers)
        return JSONResponse({"ok": False, "error": message}, status_code=status, headers=headers)

    @app.exception_handler(RagError)
    async def rag_error(request: Request, exc: RagError) -> JSONResponse:
        status = next((code for cls, code in _STATUS.items() if isinstance(exc, cls)), 500)
        return error(request, status, str(exc))

    # Starlette's own HTTPException (a body that is not UTF-8, a 404 route) is the base of
    # FastAPI's: handling the base gives every error the same shape.
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error(request, exc.status_code, str(exc.detail), exc.headers,
                     getattr(exc, "code", None), getattr(exc, "param", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return error(request, 422, f"Invalid request: {problems}")

    @app.get("/metrics", response_class=PlainTextResponse, dependencies=[Depends(reader)])
    def metrics() -> PlainTextResponse:
        """Prometheus metrics (needs an API key when keys are set: give the scraper a read key)."""
        return PlainTextResponse(engines.metrics.render(), media_type=engines.metrics.content_type)

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        """Liveness and the corpus size (polled by load balancers: no metadata is read)."""
        articles, chunks = engines.store().counts()
        return {"ok": True, "corpus": settings.corpus, "articles": articles, "chunks": chunks}

    def corpus_for(who: Caller, asked: str | None) -> str | None:
        if who.corpus and asked not in (None, who.corpus):
            raise HTTPException(403, f"This embed token is for corpus {who.corpus!r} only")
        return asked or who.corpus

    app.include_router(openai_router(engines, limited, corpus_for))

    @app.post("/api/ask", response_model=None)
    def ask(body: AskIn, request: Request, who: Caller = Depends(limited)) -> Any:
        """A verified answer; ``stream`` (or ``Accept: text/event-stream``) sends server-sent events:
        ``delta`` events with draft text, then one ``answer`` event with the verified Answer."""
        engine = engines.get(corpus_for(who, body.corpus))
        question = engine.check_question(body.question)  # before a stream starts: a 422, not an event
        history = [(t.question, t.answer) for t in body.history]
        filters = body.filters.to_filters()
        if body.stream or "text/event-stream" in request.headers.get("accept", ""):
            return StreamingResponse(_sse(engine, question, history, filters, engines.answered), media_type="text/event-stream")
        answer = engine.ask(question, history, filters)
        engines.answered(answer, "api")
        return answer.to_dict()

    @app.get("/api/search")
    def search(
        q: str = Query(..., description="Search text"),
        k: int = Query(8, ge=1, le=50),
        date_from: date | None = None,
        date_to: date | None = None,
        source: list[str] = Query(default_factory=list),
        corpus: str | None = None,
        who: Caller = Depends(limited),
    ) -> dict[str, Any]:
        """Passages for a query, best first."""
        passages = engines.get(corpus_for(who, corpus)).search(q, Filters(date_from, date_to, tuple(source)), k=k)
        return {"ok": True, "passages": [p.__dict__ for p in passages]}

    @app.get("/api/articles")
    def articles(
        limit: int = Query(100, ge=1, le=10_000),
        offset: int = Query(0, ge=0),
        corpus: str | None = None,
        who: Caller = Depends(reader),
    ) -> dict[str, Any]:
        """Stored articles (one row each) and corpus statistics."""
        store = engines.store(corpus_for(who, corpus))
        firsts = store.first_chunks()
        rows = sorted(firsts, key=lambda m: (m.get("published", ""), m.get("url", "")), reverse=True)
        keep = ("article_id", "document_id", "url", "title", "source", "published", "n_chunks", "near_dup_of")
        st = store.stats(firsts)
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
        n_articles, n_chunks = engines.store().delete_article(article_id)
        if not n_articles:
            raise HTTPException(404, f"No article with id {article_id!r}")
        return {"ok": True, "articles": n_articles, "chunks": n_chunks}

    @app.post("/api/ingest", dependencies=[Depends(writer)])
    def ingest_json(body: IngestIn) -> dict[str, Any]:
        """Ingest articles posted as JSON (the JSONL schema, one object per article), and the
        pages at ``urls`` and the new and changed articles of ``feeds``, fetched politely."""
        if not (body.articles or body.urls or body.feeds):
            raise HTTPException(422, "Give articles, urls or feeds")
        out: dict[str, Any] = {}
        if body.articles:
            out = _report(engines.ingest_records([a.model_dump(exclude_none=True) for a in body.articles]))
        if body.urls or body.feeds:
            fetched, report = engines.ingest_web(body.urls, body.feeds)
            web = _report(report)
            web["fetched"] = {"feeds": fetched.feeds, "feeds_unchanged": fetched.feeds_unchanged,
                              "pages": fetched.pages, "pages_unchanged": fetched.pages_unchanged}
            web["errors"] = [str(e) for e in fetched.errors] + web["errors"]
            web["ok"] = web["ok"] and not fetched.errors
            out = _merge_reports(out, web) if out else web
        return out

    @app.post("/api/ingest/file", dependencies=[Depends(writer)])
    def ingest_file(file: UploadFile = File(...)) -> dict[str, Any]:
        """Ingest one uploaded file (JSONL, .txt, .md, .html or .pdf)."""
        name = Path(file.filename or "upload.txt").name
        with engines.upload_dir() as staging:
            path = staging / name
            path.write_bytes(file.file.read())
            return _report(engines.ingest([path]))

    @app.post("/api/feedback")
    def post_feedback(body: FeedbackIn, who: Caller = Depends(reader)) -> dict[str, Any]:
        """Store a thumbs up/down and/or comment on an answer (listed by `rag feedback`)."""
        throttle(f"feedback:{who.id}")  # its own budget: rating an answer must not cost a question
        row = feedback.record(
            corpus=corpus_for(who, body.corpus) or settings.corpus, question=body.question, answer=body.answer,
            status=body.status, generator=body.generator, sources=body.sources, rating=body.rating,
            comment=body.comment, feedback_id=body.feedback_id, owner=who.id,
        )
        return {"ok": True, "id": row}

    @app.post("/api/embed-token")
    def embed_token(body: EmbedTokenIn, who: Caller = Depends(reader)) -> dict[str, Any]:
        """A short-lived signed token for one /embed page: the portal's server asks for it with
        its API key and puts ``/embed?token=...`` in the iframe, so no key reaches the browser."""
        if who.embed:
            raise HTTPException(403, "An embed token cannot issue embed tokens")
        token, expires = auth.issue_embed_token(body.portal, body.ttl, engines.settings_for(body.corpus).corpus)
        return {"ok": True, "token": token, "expires_at": expires, "embed_url": f"/embed?token={token}"}

    @app.get("/embed", response_class=HTMLResponse, include_in_schema=False)
    def embed_page(token: str = "") -> HTMLResponse:
        """The chat for portals' iframes (frame-ancestors from the settings)."""
        # Only an embed token: an API key in a page's URL would reach the browser.
        if not auth.open and auth.verify_embed_token(token) is None:
            return HTMLResponse(_PLAIN.format("This embedded chat needs a valid, unexpired token."), 401)
        return HTMLResponse(static("embed.html").replace("<!--HEAD-->", head()))

    @app.post("/embed/ask", include_in_schema=False)
    def embed_ask(body: EmbedAskIn, who: Caller = Depends(limited)) -> StreamingResponse:
        """The /embed page's question: events as /api/ask, the final one rendered to HTML."""
        engine = engines.get(who.corpus)
        question = engine.check_question(body.question)
        history = [(t.question, t.answer) for t in body.history]

        def final(answer: Answer) -> dict[str, Any]:
            return {
                "html": answer_html(answer, body.turn),
                "panel": passages_html(answer, body.turn),
                "feedback": {"question": answer.question, "answer": answer.text, "status": answer.status,
                             "generator": answer.generator, "sources": answer.sources},
            }

        return StreamingResponse(_sse(engine, question, history, Filters(), engines.answered, final, "embed"),
                                 media_type="text/event-stream")

    _mount_chat(app, settings, engines, auth, limiter, feedback)
    return app


_PLAIN = "<!doctype html><meta charset=utf-8><title>News answers</title><p style='font:16px system-ui'>{}</p>"


def _mount_chat(
    app: FastAPI, settings: Settings, engines: Engines, auth: Auth, limiter: RateLimiter, feedback: FeedbackStore
) -> None:
    """The Gradio chat at ``/``: behind a login when users are configured, off when the API has
    keys but the chat has no users (the chat must not be a way around the keys)."""
    import gradio as gr

    from ui.chat import build_chat

    users = auth.ui_users()
    if not auth.open and not users:
        message = _PLAIN.format(
            f"The chat is off: API keys are configured but no chat users (set ${settings.ui_users_env}). "
            "Portals can use /embed with an embed token."
        )

        @app.get("/", response_class=HTMLResponse, include_in_schema=False)
        def chat_off() -> HTMLResponse:
            return HTMLResponse(message, 403)
        return
    # Reached only when the API is open or the chat has a login: upload goes to those users.
    demo = build_chat(settings, engines, feedback, limiter, upload=settings.ui_upload)
    demo.queue(default_concurrency_limit=4)
    gr.mount_gradio_app(
        app, demo, path="/", auth=users or None, head=head(), css=_CHAT_CSS, show_error=False,
        max_file_size=f"{settings.max_request_mb:g}mb", ssr_mode=False, footer_links=[],
    )


# The passage panel scrolls on its own so a marker click can bring a passage into view.
_CHAT_CSS = "#rag-panel { max-height: 78vh; overflow-y: auto; }"


def _event(name: str, data: Any) -> str:
    return f"event: {name}\ndata: {json.dumps(data, default=str)}\n\n"


def _sse(
    engine: Engine,
    question: str,
    history: list[tuple[str, str]],
    filters: Filters,
    answered: Callable[[Answer, str], None],
    final: Callable[[Answer], dict[str, Any]] = Answer.to_dict,
    channel: str = "api",
) -> Iterator[str]:
    """Server-sent events: ``delta`` drafts, then ``answer`` with ``final(answer)``, or ``error``."""
    try:
        for piece in engine.ask_stream(question, history, filters):
            if isinstance(piece, Answer):
                answered(piece, channel)
                yield _event("answer", final(piece))
            else:
                yield _event("delta", {"text": piece})
    except RagError as exc:
        yield _event("error", {"ok": False, "error": str(exc)})
    except Exception:
        # Headers are already sent: the client can only learn of the failure in-stream.
        log.exception("streamed answer failed")
        yield _event("error", {"ok": False, "error": "Internal error while answering (logged)"})


def _merge_reports(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = {**a, **b, "ok": a["ok"] and b["ok"]}
    for key in ("added", "updated", "unchanged", "chunks"):
        out[key] = a[key] + b[key]
    for key in ("near_duplicates", "errors"):
        out[key] = a[key] + b[key]
    return out


def _report(report: IngestReport) -> dict[str, Any]:
    return {
        "ok": report.ok,
        "added": report.added,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "chunks": report.chunks_written,
        "near_duplicates": [nd.__dict__ for nd in report.near_duplicates],
        "errors": [str(e) for e in report.errors],
    }
