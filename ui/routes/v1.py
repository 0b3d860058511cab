"""The OpenAI-compatible API (``/v1``), so Open WebUI, LiteLLM and the OpenAI SDKs connect
without special cases.

* ``GET /v1/models`` lists the store's corpora as models; a request's ``model`` picks the
  corpus (``newsrag`` means the server's own). An unknown model is a 404
  ``model_not_found``, as OpenAI answers.
* Errors have OpenAI's shape, ``{"error": {"message", "type", "code"}}``, with its status
  codes, and ``Retry-After`` on 429 (:func:`openai_error`).
* ``usage`` counts tokens with tiktoken (cl100k); ``stream_options.include_usage`` adds
  the final usage chunk with no choices.
* Parameters that would change what comes back and that we cannot honour (``n`` > 1,
  tools and functions, log probabilities, JSON response formats) are refused with a 400
  naming the parameter, rather than silently ignored. Sampling parameters (temperature,
  top_p, max_tokens, ...) are accepted: an answer made of verified quotes has nothing to
  sample.
* ``citations`` is the list of cited source URLs, one per ``[n]`` (Perplexity's convention,
  which chat clients display; ``article:<id>`` for an article stored without a URL);
  ``citation_details`` carries the full citations (passage, quoted spans, deep link).
"""

from __future__ import annotations

import functools
import json
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, Literal

from fastapi import APIRouter, HTTPException
from fastapi.responses import JSONResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from rag.errors import RagError
from rag.pipeline import Engine
from rag.types import Answer, is_web_url
from ui.auth import Caller
from ui.deps import Limited, Svc, corpus_for

log = logging.getLogger(__name__)
DEFAULT_MODEL = "newsrag"
_ERROR_TYPES = {
    400: "invalid_request_error", 404: "invalid_request_error", 413: "invalid_request_error",
    422: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
    429: "rate_limit_error", 500: "server_error", 502: "server_error", 503: "server_error",
}


class ChatMessage(BaseModel):
    """An OpenAI chat message (text content only)."""

    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = None

    def text(self) -> str:
        """The message's text, joining content parts."""
        if isinstance(self.content, list):
            return "".join(str(p.get("text", "")) for p in self.content if isinstance(p, dict))
        return self.content or ""


class StreamOptions(BaseModel):
    """``stream_options``."""

    include_usage: bool = False


class ChatIn(BaseModel):
    """``POST /v1/chat/completions``. Fields not listed here (temperature, top_p, user,
    max_tokens, ...) are accepted and have no effect."""

    model_config = ConfigDict(extra="allow")

    model: str = DEFAULT_MODEL
    messages: list[ChatMessage]
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = Field(1, ge=1)
    tools: list[Any] | None = None
    functions: list[Any] | None = None
    tool_choice: Any = None
    logprobs: bool | None = None
    response_format: dict[str, Any] | None = None

    def refuse_unsupported(self) -> None:
        """A 400 naming the first parameter we cannot honour."""
        problems = {
            "n": self.n > 1 and "n > 1 (one answer per request) is not supported",
            "tools": bool(self.tools or self.functions) and "tools and functions are not supported",
            "tool_choice": self.tool_choice not in (None, "none", "auto") and "tool_choice is not supported",
            "logprobs": bool(self.logprobs) and "logprobs are not supported",
            "response_format": (self.response_format or {}).get("type", "text") != "text"
            and "only the text response_format is supported",
        }
        for param, problem in problems.items():
            if problem:
                raise OpenAIError(400, str(problem), code="unsupported_parameter", param=param)


class OpenAIError(HTTPException):
    """An error of a /v1 request that names OpenAI's ``code`` or the ``param`` at fault."""

    def __init__(self, status: int, message: str, *, code: str | None = None, param: str | None = None) -> None:
        super().__init__(status, message)
        self.code = code
        self.param = param


def openai_error(status: int, message: str, *, code: str | None = None, param: str | None = None,
                 headers: dict[str, str] | None = None) -> JSONResponse:
    """An error in OpenAI's shape, with its type for ``status``."""
    body = {"error": {"message": message, "type": _ERROR_TYPES.get(status, "server_error"),
                      "param": param, "code": code}}
    return JSONResponse(body, status_code=status, headers=headers)


router = APIRouter(prefix="/v1", tags=["OpenAI-compatible"])


def _corpus_of(model: str, who: Caller, svc: Svc) -> str | None:
    if model in ("", DEFAULT_MODEL, svc.settings.corpus):
        return corpus_for(who, None)
    if model not in svc.engines.store().corpora():
        raise OpenAIError(404, f"The model '{model}' does not exist: GET /v1/models lists the corpora",
                          code="model_not_found", param="model")
    return corpus_for(who, model)


@router.get("/models")
def models(who: Limited, svc: Svc) -> dict[str, Any]:
    """The corpora of the store, as models (an embed token sees its own corpus only)."""
    names = [who.corpus] if who.corpus else svc.engines.store().corpora()
    return {"object": "list",
            "data": [{"id": n, "object": "model", "created": 0, "owned_by": "newsrag"} for n in names]}


@router.post("/chat/completions", response_model=None)
def chat(body: ChatIn, who: Limited, svc: Svc) -> Any:
    """The last user message is the question, earlier turns the history. The reply
    carries ``citations`` (URLs) and ``citation_details`` next to the message."""
    body.refuse_unsupported()
    turns = [m for m in body.messages if m.role in ("user", "assistant")]
    if not turns or turns[-1].role != "user":
        raise HTTPException(422, "The last message must be the user's question")
    engines = svc.engines
    engine = engines.get(_corpus_of(body.model, who, svc))
    question = engine.check_question(turns[-1].text())
    history: list[tuple[str, str]] = []
    for i in range(len(turns) - 1):
        if turns[i].role == "user" and turns[i + 1].role == "assistant":
            history.append((turns[i].text(), turns[i + 1].text()))
    count = _token_counter()
    prompt_tokens = sum(count(m.text()) for m in body.messages)
    cid, created = f"chatcmpl-{uuid.uuid4().hex[:24]}", int(time.time())
    if body.stream:
        usage = body.stream_options is not None and body.stream_options.include_usage
        return StreamingResponse(
            _stream(engine, question, history, body.model, cid, created, prompt_tokens if usage else None, count,
                    engines.answered),
            media_type="text/event-stream",
        )
    answer = engine.ask(question, history)
    engines.answered(answer, "api")
    return {
        "id": cid, "object": "chat.completion", "created": created, "model": body.model,
        "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                     "message": {"role": "assistant", "content": answer.text}}],
        **_citations(answer),
        "usage": _usage(prompt_tokens, count(answer.text)),
    }


def _stream(
    engine: Engine, question: str, history: list[tuple[str, str]], model: str, cid: str, created: int,
    prompt_tokens: int | None, count: Callable[[str], int], answered: Callable[[Answer, str], None],
) -> Iterator[str]:
    def chunk(choices: list[dict[str, Any]], **extra: Any) -> str:
        body = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": choices, **extra}
        return f"data: {json.dumps(body, default=str)}\n\n"

    def delta(content: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        return chunk([{"index": 0, "delta": content, "finish_reason": finish}], **extra)

    yield delta({"role": "assistant", "content": ""})
    text = ""
    try:
        for piece in engine.ask_stream(question, history):
            if isinstance(piece, Answer):
                # Drafts are not streamed here: an OpenAI client cannot take text back,
                # so it receives only the verified answer.
                answered(piece, "api")
                text = piece.text
                yield delta({"content": text})
                yield delta({}, "stop", **_citations(piece))
    except RagError as exc:
        text = f"Error: {exc}"
        yield delta({"content": text}, "stop")
    except Exception:
        log.exception("streamed chat completion failed")
        text = "Error: internal error while answering (logged)"
        yield delta({"content": text}, "stop")
    if prompt_tokens is not None:
        yield chunk([], usage=_usage(prompt_tokens, count(text)))
    yield "data: [DONE]\n\n"


def citation_detail(c: dict[str, Any]) -> dict[str, Any]:
    """One citation of an Answer's dict as clients show it: source, date, link, quotes."""
    p = c["passage"]
    return {"n": c["n"], "url": p["url"] if is_web_url(p["url"]) else "", "title": p["title"], "source": p["source"], "published": p["published"],
            "article_id": p["article_id"], "deep_link": c["deep_link"], "quotes": [p["text"][s:e] for s, e in c["spans"]]}


def _citations(answer: Answer) -> dict[str, Any]:
    details = [citation_detail(c) for c in answer.to_dict()["citations"]]
    # One entry per [n], in order, as clients index them: an article stored without a URL
    # (a file, a posted record) is named by its id.
    return {"citations": [d["url"] or f"article:{d['article_id']}" for d in details], "citation_details": details}


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


@functools.cache
def _token_counter() -> Callable[[str], int]:
    from rag.tokens import cl100k

    encode = cl100k()
    return lambda text: len(encode(text))
