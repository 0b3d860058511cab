"""One server for people and portals: the HTTP API (``/api``: ask as JSON or server-sent
events, search, articles, ingest, delete, health, feedback, embed tokens), the
OpenAI-compatible ``/v1``, the ``/embed`` page for iframes, and the Gradio chat at ``/``.

Each resource is a router of :mod:`ui.routes`; what they share (the engines, the caller's
key and rate limit) are dependencies of :mod:`ui.deps`, and errors get one shape and a
status that says whose fault they are (:mod:`ui.http_errors`). This module assembles them
and adds what every response carries: security headers and a structured access log that
never holds a header or query string (keys and tokens travel there).
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse

from rag.settings import Settings
from ui import http_errors
from ui.deps import Services
from ui.render import head, plain_page
from ui.routes import api, embed, v1

log = logging.getLogger("rag.api")


def create_app(settings: Settings) -> FastAPI:
    """The server for one settings object: API, /v1, /embed, and the Gradio chat at ``/``.

    Engines are built on first use.
    """
    app = FastAPI(title="newsrag", version="0.1.0", description=__doc__)
    app.state.services = svc = Services.build(settings)
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

    http_errors.install(app)
    app.include_router(api.router)
    app.include_router(v1.router)
    app.include_router(embed.router)
    _mount_chat(app, svc)
    return app


def _mount_chat(app: FastAPI, svc: Services) -> None:
    """The Gradio chat at ``/``: behind a login when users are configured, off when the API has
    keys but the chat has no users (the chat must not be a way around the keys)."""
    import gradio as gr

    from ui.chat import build_chat

    settings = svc.settings
    users = svc.auth.ui_users()
    if not svc.auth.open and not users:
        message = plain_page(
            f"The chat is off: API keys are configured but no chat users (set ${settings.ui_users_env}). "
            "Portals can use /embed with an embed token."
        )

        @app.get("/", response_class=HTMLResponse, include_in_schema=False)
        def chat_off() -> HTMLResponse:
            return HTMLResponse(message, 403)
        return
    # Reached only when the API is open or the chat has a login: upload goes to those users.
    demo = build_chat(settings, svc.engines, svc.feedback, svc.limiter, upload=settings.ui_upload)
    demo.queue(default_concurrency_limit=4)
    gr.mount_gradio_app(
        app, demo, path="/", auth=users or None, head=head(), css=_CHAT_CSS, show_error=False,
        max_file_size=f"{settings.max_request_mb:g}mb", ssr_mode=False, footer_links=[],
    )


# The passage panel scrolls on its own so a marker click can bring a passage into view.
_CHAT_CSS = "#rag-panel { max-height: 78vh; overflow-y: auto; }"
