"""What the routes share, as FastAPI dependencies: the server's parts (:class:`Services`,
kept on ``app.state`` so each app has its own), the caller of a request (API key or embed
token), its rate limit, and the corpus it may read."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from rag.settings import Settings
from ui.auth import Auth, Caller, RateLimiter
from ui.engines import Engines
from ui.feedback import FeedbackStore


@dataclass
class Services:
    """The parts of one server, built once from its settings."""

    settings: Settings
    engines: Engines
    auth: Auth
    limiter: RateLimiter
    feedback: FeedbackStore

    @classmethod
    def build(cls, settings: Settings) -> Services:
        """Engines are built on first use; the rest is cheap."""
        return cls(settings, Engines(settings), Auth(settings), RateLimiter(settings),
                   FeedbackStore(settings.feedback_path))


def services(request: Request) -> Services:
    """The :class:`Services` of the app serving ``request``."""
    return request.app.state.services  # type: ignore[no-any-return]


Svc = Annotated[Services, Depends(services)]


def _caller(request: Request, svc: Services, *, write: bool) -> Caller:
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else ""
    host = request.client.host if request.client else "unknown"
    if svc.auth.open:
        return Caller("write", f"ip:{host}")
    if not token:
        raise HTTPException(401, "Missing API key: send Authorization: Bearer <key>")
    who = svc.auth.check(token)
    if who is None:
        raise HTTPException(401, "Unknown API key or expired embed token")
    if write and who.scope != "write":
        raise HTTPException(403, "This key may read but not write: use a write-scoped key")
    return who


def reader(request: Request, svc: Svc) -> Caller:
    """The caller, with a key of either scope (or anyone when no keys are set)."""
    return _caller(request, svc, write=False)


def writer(request: Request, svc: Svc) -> Caller:
    """The caller, with a write-scoped key."""
    return _caller(request, svc, write=True)


def throttle(svc: Services, key: str) -> None:
    """A 429 with ``Retry-After`` when ``key`` has used up its budget."""
    wait = svc.limiter.hit(key)
    if wait is not None:
        seconds = max(1, math.ceil(wait))
        raise HTTPException(429, f"Too many requests: try again in {seconds} s", headers={"Retry-After": str(seconds)})


def limited(who: Annotated[Caller, Depends(reader)], svc: Svc) -> Caller:
    """A reading caller within its rate limit (asking and searching cost budget)."""
    throttle(svc, who.id)
    return who


Reader = Annotated[Caller, Depends(reader)]
Limited = Annotated[Caller, Depends(limited)]


def corpus_for(who: Caller, asked: str | None) -> str | None:
    """The corpus a request may read: an embed token's own, whatever else is asked."""
    if who.corpus and asked not in (None, who.corpus):
        raise HTTPException(403, f"This embed token is for corpus {who.corpus!r} only")
    return asked or who.corpus
