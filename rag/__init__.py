"""Turn a question into a cited, verified answer over the stored news articles.

One import and one call for code that embeds it::

    from rag import ask
    answer = ask("Who won the election?", corpus="news")

:func:`ask` builds an :class:`~rag.pipeline.Engine` for the settings on first use and
keeps it for the next call with the same settings; :class:`~rag.query_engine.NewsQueryEngine`
is the same answer behind llama-index's ``QueryEngine`` interface.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rag.pipeline import Engine
    from rag.settings import Settings
    from rag.types import Answer, Filters


def ask(
    question: str,
    *,
    corpus: str | None = None,
    settings: Settings | None = None,
    history: Sequence[tuple[str, str]] | None = None,
    filters: Filters | None = None,
    **overrides: Any,
) -> Answer:
    """Answer ``question`` from ``corpus`` (default: the settings' corpus) with verified citations.

    ``settings`` default to :func:`rag.settings.load_settings` (environment, ``rag.toml``);
    ``overrides`` change single settings (``data_dir=...``, ``generator="openai"``).
    ``history`` is the conversation so far as (question, answer) pairs.
    """
    return engine(corpus, settings=settings, **overrides).ask(question, history, filters)


def engine(corpus: str | None = None, *, settings: Settings | None = None, **overrides: Any) -> Engine:
    """The :class:`~rag.pipeline.Engine` for ``corpus`` and these settings, built on first use
    and kept for the next call with the same settings (models and indexes load once)."""
    from rag.settings import load_settings

    base = settings or load_settings()
    chosen = base.model_copy(update={k: v for k, v in {"corpus": corpus, **overrides}.items() if v is not None})
    return _engine(chosen.model_dump_json())


@functools.lru_cache(maxsize=8)
def _engine(settings_json: str) -> Engine:
    from rag.pipeline import Engine
    from rag.settings import Settings

    return Engine(Settings.model_validate_json(settings_json))
