"""Every error of the server as one JSON shape, with a status that says whose fault it is:
4xx for what the client sent, 5xx for what the server lacks or a backend did.

Our own API answers ``{"ok": false, "error": message}``; ``/v1`` answers in OpenAI's
shape (:func:`ui.routes.v1.openai_error`), which OpenAI clients read.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from rag.errors import (
    BackendError,
    BackendUnavailable,
    ConfigError,
    IndexNotFound,
    InputError,
    QuestionError,
    RagError,
    RequestError,
)
from ui.routes.v1 import openai_error

# The first class that matches wins: subclasses before their bases.
STATUS: tuple[tuple[type[RagError], int], ...] = (
    (QuestionError, 422),
    (IndexNotFound, 404),
    (RequestError, 400),
    (InputError, 400),
    (BackendUnavailable, 503),
    (BackendError, 502),
    (ConfigError, 500),
)


def status_of(exc: RagError) -> int:
    """The HTTP status of one of our errors (500 for any we did not plan for)."""
    return next((code for cls, code in STATUS if isinstance(exc, cls)), 500)


def error_response(request: Request, status: int, message: str, headers: dict[str, str] | None = None,
                   code: str | None = None, param: str | None = None) -> JSONResponse:
    """The error in the shape the request's client reads."""
    if request.url.path.startswith("/v1/"):
        return openai_error(status, message, code=code, param=param, headers=headers)
    return JSONResponse({"ok": False, "error": message}, status_code=status, headers=headers)


def install(app: FastAPI) -> None:
    """Handle our errors, HTTP errors and invalid requests in one shape."""

    @app.exception_handler(RagError)
    async def rag_error(request: Request, exc: RagError) -> JSONResponse:
        return error_response(request, status_of(exc), str(exc))

    # Starlette's own HTTPException (a body that is not UTF-8, a 404 route) is the base of
    # FastAPI's: handling the base gives every error the same shape.
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return error_response(request, exc.status_code, str(exc.detail), exc.headers,
                              getattr(exc, "code", None), getattr(exc, "param", None))

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        return error_response(request, 422, f"Invalid request: {problems}")
