"""The one place that makes OpenAI clients and translates their errors into ours, for the
generator, the embedder's key check and the eval's LLM judge (as httpx's
``map_httpcore_exceptions`` does for its transport)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rag.errors import BackendError, BackendUnavailable, ConfigError, RagError
from rag.settings import Settings


def api_key(settings: Settings) -> str:
    """The key from the variable ``openai_api_key_env`` names; a placeholder for a local server
    (``openai_base_url``), which needs none. No key and no server: :class:`BackendUnavailable`."""
    key = os.environ.get(settings.openai_api_key_env)
    if not key and not settings.openai_base_url:
        raise BackendUnavailable(
            f"No OpenAI key: set {settings.openai_api_key_env}, or openai_base_url for a local server"
        )
    return key or "not-needed"


def make_client(settings: Settings) -> Any:
    """An ``openai.OpenAI`` client for the settings' server, key, timeout and retries."""
    import openai

    return openai.OpenAI(api_key=api_key(settings), base_url=settings.openai_base_url,
                         timeout=settings.llm_timeout, max_retries=settings.llm_retries)


def translate(exc: BaseException, settings: Settings, *, embeddings: bool = False) -> RagError | None:
    """Our error for one raised by the openai client (naming the server), or None for an
    error that is not the client's. ``embeddings``: the call was the embedder's, whose model
    is ``embed_model``."""
    import openai

    kind, host = ("embeddings" if embeddings else "LLM"), settings.openai_base_url or "api.openai.com"
    where = f"The {kind} server at {host}"
    model, setting = (settings.embed_model, "embed_model") if embeddings else (settings.llm_model, "llm_model")
    if isinstance(exc, openai.AuthenticationError):
        return BackendUnavailable(f"{where} refused the key: check {settings.openai_api_key_env}")
    if isinstance(exc, openai.NotFoundError):
        return ConfigError(f"Model '{model}' not found at {host}: check {setting}")
    if isinstance(exc, openai.APITimeoutError):
        return BackendError(f"{where} timed out" + ("" if embeddings else f" after {settings.llm_timeout:g} s"))
    if isinstance(exc, openai.APIConnectionError):
        return BackendError(f"Cannot reach the {kind} server at {host}: is it running?")
    if isinstance(exc, openai.APIStatusError):
        return BackendError(f"{where} answered {exc.status_code}: {exc.message}")
    if isinstance(exc, openai.OpenAIError):  # malformed responses and the like
        return BackendError(f"{where} sent a bad response: {exc}")
    if isinstance(exc, (ValueError, KeyError, AttributeError, IndexError, TypeError)):
        # The client surfaces undecodable stream events as plain JSON errors.
        return BackendError(f"{where} sent a bad response: {exc}")
    return None


@contextmanager
def mapped_errors(settings: Settings, *, embeddings: bool = False) -> Iterator[None]:
    """Run a block of client calls, raising our errors for the client's."""
    try:
        yield
    except RagError:
        raise
    except Exception as exc:
        ours = translate(exc, settings, embeddings=embeddings)
        if ours is None:
            raise
        raise ours from exc
