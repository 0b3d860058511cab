"""Server-sent events of an answer, shared by ``/api/ask`` and ``/embed/ask``."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

from rag.errors import RagError
from rag.pipeline import Engine
from rag.types import Answer, Filters

log = logging.getLogger("rag.api")


def event(name: str, data: Any) -> str:
    """One event in the wire format."""
    return f"event: {name}\ndata: {json.dumps(data, default=str)}\n\n"


def answer_events(
    engine: Engine,
    question: str,
    history: list[tuple[str, str]],
    filters: Filters,
    answered: Callable[[Answer, str], None],
    final: Callable[[Answer], dict[str, Any]] = Answer.to_dict,
    channel: str = "api",
) -> Iterator[str]:
    """``delta`` drafts, then ``answer`` with ``final(answer)``, or ``error``."""
    try:
        for piece in engine.ask_stream(question, history, filters):
            if isinstance(piece, Answer):
                answered(piece, channel)
                yield event("answer", final(piece))
            else:
                yield event("delta", {"text": piece})
    except RagError as exc:
        yield event("error", {"ok": False, "error": str(exc)})
    except Exception:
        # Headers are already sent: the client can only learn of the failure in-stream.
        log.exception("streamed answer failed")
        yield event("error", {"ok": False, "error": "Internal error while answering (logged)"})
