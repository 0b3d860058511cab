"""``/api/*``, ``/healthz`` and ``/metrics``: ask, search, articles, ingest, delete,
feedback and embed tokens, as JSON (answers also as server-sent events)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Depends, File, HTTPException, Query, Request, UploadFile
from fastapi.responses import PlainTextResponse, StreamingResponse
from pydantic import BaseModel, Field

from index.ingest import IngestReport
from rag.types import Filters
from ui.deps import Limited, Reader, Svc, corpus_for, reader, throttle, writer
from ui.sse import answer_events

router = APIRouter()


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


@router.get("/metrics", response_class=PlainTextResponse, dependencies=[Depends(reader)])
def metrics(svc: Svc) -> PlainTextResponse:
    """Prometheus metrics (needs an API key when keys are set: give the scraper a read key)."""
    return PlainTextResponse(svc.engines.metrics.render(), media_type=svc.engines.metrics.content_type)


@router.get("/healthz")
def healthz(svc: Svc) -> dict[str, Any]:
    """Liveness and the corpus size (polled by load balancers: no metadata is read)."""
    articles, chunks = svc.engines.store().counts()
    return {"ok": True, "corpus": svc.settings.corpus, "articles": articles, "chunks": chunks}


@router.post("/api/ask", response_model=None)
def ask(body: AskIn, request: Request, who: Limited, svc: Svc) -> Any:
    """A verified answer; ``stream`` (or ``Accept: text/event-stream``) sends server-sent events:
    ``delta`` events with draft text, then one ``answer`` event with the verified Answer."""
    engines = svc.engines
    engine = engines.get(corpus_for(who, body.corpus))
    question = engine.check_question(body.question)  # before a stream starts: a 422, not an event
    history = [(t.question, t.answer) for t in body.history]
    filters = body.filters.to_filters()
    if body.stream or "text/event-stream" in request.headers.get("accept", ""):
        return StreamingResponse(answer_events(engine, question, history, filters, engines.answered),
                                 media_type="text/event-stream")
    answer = engine.ask(question, history, filters)
    engines.answered(answer, "api")
    return answer.to_dict()


@router.get("/api/search")
def search(
    q: str = Query(..., description="Search text"),
    k: int = Query(8, ge=1, le=50),
    date_from: date | None = None,
    date_to: date | None = None,
    source: list[str] = Query(default_factory=list),
    corpus: str | None = None,
    *,
    who: Limited,
    svc: Svc,
) -> dict[str, Any]:
    """Passages for a query, best first."""
    passages = svc.engines.get(corpus_for(who, corpus)).search(q, Filters(date_from, date_to, tuple(source)), k=k)
    return {"ok": True, "passages": [p.__dict__ for p in passages]}


@router.get("/api/articles")
def articles(
    limit: int = Query(100, ge=1, le=10_000),
    offset: int = Query(0, ge=0),
    corpus: str | None = None,
    *,
    who: Reader,
    svc: Svc,
) -> dict[str, Any]:
    """Stored articles (one row each) and corpus statistics."""
    store = svc.engines.store(corpus_for(who, corpus))
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


@router.delete("/api/articles/{article_id}", dependencies=[Depends(writer)])
def delete_article(article_id: str, svc: Svc) -> dict[str, Any]:
    """Delete an article by its id (as given at ingest, or the stored key)."""
    n_articles, n_chunks = svc.engines.store().delete_article(article_id)
    if not n_articles:
        raise HTTPException(404, f"No article with id {article_id!r}")
    return {"ok": True, "articles": n_articles, "chunks": n_chunks}


@router.post("/api/ingest", dependencies=[Depends(writer)])
def ingest_json(body: IngestIn, svc: Svc) -> dict[str, Any]:
    """Ingest articles posted as JSON (the JSONL schema, one object per article), and the
    pages at ``urls`` and the new and changed articles of ``feeds``, fetched politely."""
    if not (body.articles or body.urls or body.feeds):
        raise HTTPException(422, "Give articles, urls or feeds")
    out: dict[str, Any] = {}
    if body.articles:
        out = _report(svc.engines.ingest_records([a.model_dump(exclude_none=True) for a in body.articles]))
    if body.urls or body.feeds:
        fetched, report = svc.engines.ingest_web(body.urls, body.feeds)
        web = _report(report)
        web["fetched"] = {"feeds": fetched.feeds, "feeds_unchanged": fetched.feeds_unchanged,
                          "pages": fetched.pages, "pages_unchanged": fetched.pages_unchanged}
        web["errors"] = [str(e) for e in fetched.errors] + web["errors"]
        web["ok"] = web["ok"] and not fetched.errors
        out = _merge_reports(out, web) if out else web
    return out


@router.post("/api/ingest/file", dependencies=[Depends(writer)])
def ingest_file(svc: Svc, file: UploadFile = File(...)) -> dict[str, Any]:
    """Ingest one uploaded file, of any format `rag ingest` reads (README, "Input formats")."""
    name = Path(file.filename or "upload.txt").name
    with svc.engines.upload_dir() as staging:
        path = staging / name
        path.write_bytes(file.file.read())
        return _report(svc.engines.ingest([path]))


@router.post("/api/feedback")
def post_feedback(body: FeedbackIn, who: Reader, svc: Svc) -> dict[str, Any]:
    """Store a thumbs up/down and/or comment on an answer (listed by `rag feedback`)."""
    throttle(svc, f"feedback:{who.id}")  # its own budget: rating an answer must not cost a question
    row = svc.feedback.record(
        corpus=corpus_for(who, body.corpus) or svc.settings.corpus, question=body.question, answer=body.answer,
        status=body.status, generator=body.generator, sources=body.sources, rating=body.rating,
        comment=body.comment, feedback_id=body.feedback_id, owner=who.id,
    )
    return {"ok": True, "id": row}


@router.post("/api/embed-token")
def embed_token(body: EmbedTokenIn, who: Reader, svc: Svc) -> dict[str, Any]:
    """A short-lived signed token for one /embed page: the portal's server asks for it with
    its API key and puts ``/embed?token=...`` in the iframe, so no key reaches the browser."""
    if who.embed:
        raise HTTPException(403, "An embed token cannot issue embed tokens")
    corpus = svc.engines.settings_for(body.corpus).corpus
    token, expires = svc.auth.issue_embed_token(body.portal, body.ttl, corpus)
    return {"ok": True, "token": token, "expires_at": expires, "embed_url": f"/embed?token={token}"}


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
