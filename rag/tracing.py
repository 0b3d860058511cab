"""OpenTelemetry spans of an answer's stages (condense, retrieve, generate, verify) under one
``newsrag.ask`` span.

Only the OpenTelemetry API is used here: without an SDK configured (see
:func:`ui.telemetry.configure_tracing`) every call is a no-op. Spans are started with an
explicit parent rather than made "current", because the answer is a generator that yields
between stages: a current span would leak into the caller's context at each yield.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode


class AnswerTrace:
    """The spans of one answer."""

    def __init__(self, corpus: str, generator: str) -> None:
        """Start the root span."""
        self._tracer = trace.get_tracer("newsrag")
        self.root = self._tracer.start_span(
            "newsrag.ask", attributes={"newsrag.corpus": corpus, "newsrag.generator": generator}
        )
        self._context = trace.set_span_in_context(self.root)

    @contextmanager
    def stage(self, name: str, **attributes: Any) -> Iterator[Span]:
        """A child span for one stage; an exception marks it failed and goes on up."""
        span = self._tracer.start_span(f"newsrag.{name}", context=self._context, attributes=attributes)
        try:
            yield span
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, str(exc)))
            raise
        finally:
            span.end()

    def finish(self, status: str, **attributes: Any) -> None:
        """End the root span with the answer's status."""
        self.root.set_attributes({"newsrag.status": status, **attributes})
        self.root.end()

    def fail(self, exc: BaseException) -> None:
        """End the root span as failed."""
        self.root.record_exception(exc)
        self.root.set_status(Status(StatusCode.ERROR, str(exc)))
        self.root.end()
