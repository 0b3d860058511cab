"""``/embed``: the chat page for portals' iframes, and the question it posts
(``/embed/ask``), answered as events whose final one is rendered to HTML."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, StreamingResponse
from pydantic import BaseModel, Field

from rag.types import Answer, Filters
from ui.deps import Limited, Svc
from ui.render import answer_html, head, passages_html, plain_page, static
from ui.routes.api import Turn
from ui.sse import answer_events

router = APIRouter(include_in_schema=False)


class EmbedAskIn(BaseModel):
    """``POST /embed/ask`` from the /embed page."""

    question: str
    history: list[Turn] = Field(default_factory=list, max_length=50)
    turn: int = Field(0, ge=0, le=10_000)


@router.get("/embed", response_class=HTMLResponse)
def embed_page(svc: Svc, token: str = "") -> HTMLResponse:
    """The chat for portals' iframes (frame-ancestors from the settings)."""
    # Only an embed token: an API key in a page's URL would reach the browser.
    if not svc.auth.open and svc.auth.verify_embed_token(token) is None:
        return HTMLResponse(plain_page("This embedded chat needs a valid, unexpired token."), 401)
    return HTMLResponse(static("embed.html").replace("<!--HEAD-->", head()))


@router.post("/embed/ask")
def embed_ask(body: EmbedAskIn, who: Limited, svc: Svc) -> StreamingResponse:
    """The /embed page's question: events as /api/ask, the final one rendered to HTML."""
    engine = svc.engines.get(who.corpus)
    question = engine.check_question(body.question)
    history = [(t.question, t.answer) for t in body.history]

    def final(answer: Answer) -> dict[str, Any]:
        return {
            "html": answer_html(answer, body.turn),
            "panel": passages_html(answer, body.turn),
            "feedback": {"question": answer.question, "answer": answer.text, "status": answer.status,
                         "generator": answer.generator, "sources": answer.sources},
        }

    events = answer_events(engine, question, history, Filters(), svc.engines.answered, final, "embed")
    return StreamingResponse(events, media_type="text/event-stream")
