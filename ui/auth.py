"""Who may call what: API keys, signed embed tokens, chat users, and rate limits.

Secrets are read from the environment variables the settings name, at the
moment they are checked, and never logged. Everything here is stateless or
lives in the rate-limit storage, so any number of replicas agree.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from typing import Literal

from limits import RateLimitItem, parse, storage, strategies

from rag.errors import ConfigError
from rag.settings import Settings

Scope = Literal["read", "write"]


@dataclass(frozen=True)
class Caller:
    """An authenticated caller: ``id`` is a non-secret label for rate limits; an embed
    token's caller is bound to the token's ``corpus``."""

    scope: Scope
    id: str
    corpus: str | None = None
    embed: bool = False
    """True for an embed token (which may not mint more tokens)."""


def _env_list(name: str) -> list[str]:
    return [part.strip() for part in os.environ.get(name, "").split(",") if part.strip()]


class Auth:
    """API keys (read and write scope) and embed tokens, from one settings object."""

    def __init__(self, settings: Settings) -> None:
        """Keys and the embed secret are looked up on each check, so rotation needs no restart."""
        self.settings = settings

    @property
    def read_keys(self) -> list[str]:
        """Keys allowed to ask and search."""
        return _env_list(self.settings.api_keys_env)

    @property
    def write_keys(self) -> list[str]:
        """Keys also allowed to ingest and delete."""
        return _env_list(self.settings.api_write_keys_env)

    @property
    def open(self) -> bool:
        """True when no key is configured: everything is allowed (bind to localhost)."""
        return not self.read_keys and not self.write_keys

    def check(self, token: str) -> Caller | None:
        """The caller a bearer token identifies (an API key or a valid embed token), or None."""
        raw = token.encode()  # bytes: compare_digest refuses non-ASCII str
        label = "key:" + hashlib.sha256(raw).hexdigest()[:12]
        if any(hmac.compare_digest(raw, k.encode()) for k in self.write_keys):
            return Caller("write", label)
        if any(hmac.compare_digest(raw, k.encode()) for k in self.read_keys):
            return Caller("read", label)
        claims = self.verify_embed_token(token)
        if claims is not None:
            # Each token is its own caller (rate limits, feedback ownership), not the whole portal.
            corpus = str(claims.get("corpus") or "") or None
            return Caller("read", f"embed:{claims['sub']}:{claims.get('jti', '')}", corpus, embed=True)
        return None

    # -- embed tokens ------------------------------------------------------------------

    def _secret(self) -> bytes:
        secret = os.environ.get(self.settings.embed_secret_env, "")
        if len(secret) < 16:
            raise ConfigError(
                f"Embed tokens need a secret of at least 16 characters in ${self.settings.embed_secret_env} "
                "(the same on every replica)"
            )
        return secret.encode()

    def issue_embed_token(self, subject: str, ttl: int | None = None, corpus: str | None = None) -> tuple[str, int]:
        """A token that lets a browser ask (read scope) until it expires; returns it and its expiry.

        ``subject`` names the portal (for logs and rate limits); ``ttl`` is capped
        by the ``embed_token_ttl`` setting.
        """
        ttl = min(ttl or self.settings.embed_token_ttl, self.settings.embed_token_ttl)
        expires = int(time.time()) + ttl
        claims = {"sub": subject[:64], "exp": expires, "corpus": corpus or self.settings.corpus,
                  "jti": secrets.token_hex(8)}
        body = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"et1.{body}.{_b64(self._sign(body))}", expires

    def verify_embed_token(self, token: str) -> dict[str, object] | None:
        """The token's claims if its signature is ours and it has not expired, else None."""
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != "et1":
            return None
        try:
            expected = self._sign(parts[1])
            if not hmac.compare_digest(_unb64(parts[2]), expected):
                return None
            claims = json.loads(_unb64(parts[1]))
        except (ConfigError, ValueError):
            return None
        if not isinstance(claims, dict) or not isinstance(claims.get("exp"), int) or claims["exp"] < time.time():
            return None
        return claims

    def _sign(self, body: str) -> bytes:
        return hmac.new(self._secret(), f"et1.{body}".encode(), hashlib.sha256).digest()

    # -- chat users ---------------------------------------------------------------------

    def ui_users(self) -> list[tuple[str, str]]:
        """(user, password) pairs for the chat login; empty means no login."""
        pairs = []
        for item in _env_list(self.settings.ui_users_env):
            user, sep, password = item.partition(":")
            if not sep or not user or not password:
                raise ConfigError(f"${self.settings.ui_users_env}: expected user:password pairs separated by commas")
            pairs.append((user, password))
        return pairs


class RateLimiter:
    """A moving-window limit per caller, in memory or in a shared store (``limits``)."""

    def __init__(self, settings: Settings) -> None:
        """No limit when the ``rate_limit`` setting is empty."""
        self.item: RateLimitItem | None = None
        if settings.rate_limit.strip():
            try:
                self.item = parse(settings.rate_limit)
            except ValueError as exc:
                raise ConfigError(f"Setting 'rate_limit': {exc} (got {settings.rate_limit!r})") from None
        try:
            backend = storage.storage_from_string(settings.rate_limit_storage)
        except Exception as exc:  # limits raises its own ConfigurationError, or ImportError for a driver
            raise ConfigError(f"Setting 'rate_limit_storage': {exc} (got {settings.rate_limit_storage!r})") from None
        self._limiter = strategies.MovingWindowRateLimiter(backend)

    def hit(self, caller_id: str) -> float | None:
        """Count one request; None if allowed, else the seconds until the caller may retry."""
        if self.item is None or self._limiter.hit(self.item, "ask", caller_id):
            return None
        reset = self._limiter.get_window_stats(self.item, "ask", caller_id).reset_time
        return max(1.0, reset - time.time())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
