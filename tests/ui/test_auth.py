"""API keys, embed tokens, chat users and rate limits (no server needed)."""

from __future__ import annotations

import time

import pytest

from rag.errors import ConfigError
from rag.settings import Settings
from ui.auth import Auth, RateLimiter


@pytest.fixture
def auth(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Auth:
    monkeypatch.setenv("RAG_API_KEYS", "r1, r2")
    monkeypatch.setenv("RAG_API_WRITE_KEYS", "w1")
    monkeypatch.setenv("RAG_EMBED_SECRET", "s" * 32)
    return Auth(settings)


def test_keys_have_scopes(auth: Auth) -> None:
    assert not auth.open
    assert auth.check("w1").scope == "write"  # type: ignore[union-attr]
    assert auth.check("r2").scope == "read"  # type: ignore[union-attr]
    assert auth.check("nope") is None and auth.check("") is None
    assert auth.check("clé-é") is None  # non-ASCII is refused, not a crash
    assert "r2" not in auth.check("r2").id  # type: ignore[union-attr]  # rate-limit labels hide the key


def test_embed_tokens_sign_expire_and_resist_tampering(auth: Auth, monkeypatch: pytest.MonkeyPatch) -> None:
    token, expires = auth.issue_embed_token("intranet", ttl=10**6)
    assert expires <= time.time() + auth.settings.embed_token_ttl + 1
    caller = auth.check(token)
    assert caller is not None and caller.scope == "read" and caller.id.startswith("embed:intranet:")
    assert caller.corpus == auth.settings.corpus
    other = auth.check(auth.issue_embed_token("intranet")[0])
    assert other is not None and other.id != caller.id  # each token its own rate-limit budget
    head, body, sig = token.split(".")
    assert auth.check(f"{head}.{body}.{sig[::-1]}") is None
    assert auth.check(f"{head}.{body[:-1]}A.{sig}") is None
    assert auth.check("et1.garbage") is None and auth.check("et1.!!.??") is None
    monkeypatch.setattr(time, "time", lambda: expires + 1)
    assert auth.check(token) is None
    monkeypatch.undo()
    monkeypatch.setenv("RAG_EMBED_SECRET", "another-secret-of-32-characters!")
    assert auth.check(token) is None  # a rotated secret invalidates old tokens


def test_embed_tokens_need_a_real_secret(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_EMBED_SECRET", "short")
    with pytest.raises(ConfigError, match="RAG_EMBED_SECRET"):
        Auth(settings).issue_embed_token("p")


def test_ui_users(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_UI_USERS", "ana:pw1, bo:p:w2")
    assert Auth(settings).ui_users() == [("ana", "pw1"), ("bo", "p:w2")]
    monkeypatch.setenv("RAG_UI_USERS", "ana")
    with pytest.raises(ConfigError, match="user:password"):
        Auth(settings).ui_users()


def test_rate_limit_per_caller(settings: Settings) -> None:
    limiter = RateLimiter(settings.model_copy(update={"rate_limit": "2/minute"}))
    assert limiter.hit("a") is None and limiter.hit("a") is None
    wait = limiter.hit("a")
    assert wait is not None and 1 <= wait <= 60
    assert limiter.hit("b") is None  # one caller does not starve another
    assert RateLimiter(settings.model_copy(update={"rate_limit": ""})).hit("a") is None
    with pytest.raises(ConfigError, match="rate_limit"):
        RateLimiter(settings.model_copy(update={"rate_limit": "lots"}))
