"""One engine per corpus, built on first use and shared by the API, the chat and /embed.

The embedding model is loaded once and shared by every corpus's engine and by
ingest, so a server holds one copy of it however many corpora it serves.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import ValidationError

from index.ingest import IngestReport, Progress, ingest
from index.web import SyncReport, ingest_web
from rag.embed import make_embedder
from rag.errors import RequestError
from rag.pipeline import Engine
from rag.settings import Settings
from rag.store import ChunkStore
from rag.types import Answer
from ui.metrics import Metrics

log = logging.getLogger("rag.api")


class Engines:
    """Engines and stores by corpus name, from one settings object."""

    def __init__(self, settings: Settings) -> None:
        """Nothing is built before it is used."""
        self.settings = settings
        self.metrics = Metrics()
        self._engines: dict[str, Engine] = {}
        self._embedder: BaseEmbedding | None = None
        self._stores: dict[str, ChunkStore] = {}
        self._lock = threading.Lock()
        self._upload_lock = threading.Lock()

    def settings_for(self, corpus: str | None) -> Settings:
        """The settings with ``corpus`` as the corpus (validated like any setting)."""
        if not corpus or corpus == self.settings.corpus:
            return self.settings
        try:
            return self.settings.model_copy(update={"corpus": Settings.model_validate({"corpus": corpus}).corpus})
        except ValidationError:
            raise RequestError(f"{corpus!r} is not a corpus name (3-63 letters, digits, '.', '_' or '-')") from None

    def embedder(self) -> BaseEmbedding:
        """The shared embedding model."""
        with self._lock:
            if self._embedder is None:
                self._embedder = make_embedder(self.settings)
            return self._embedder

    def get(self, corpus: str | None = None) -> Engine:
        """The engine of ``corpus`` (default: the settings' corpus)."""
        settings = self.settings_for(corpus)
        engine = self._engines.get(settings.corpus)  # the common case, without waiting on a build
        if engine is not None:
            return engine
        embedder, store = self.embedder(), self.store(corpus)  # each takes the lock itself
        with self._lock:
            if settings.corpus not in self._engines:
                self._engines[settings.corpus] = Engine(settings, embedder=embedder, store=store)
            return self._engines[settings.corpus]

    def store(self, corpus: str | None = None) -> ChunkStore:
        """The corpus's store, without requiring that the corpus exists yet."""
        settings = self.settings_for(corpus)
        with self._lock:
            if settings.corpus not in self._stores:
                self._stores[settings.corpus] = ChunkStore(settings)
            return self._stores[settings.corpus]

    def corpora(self) -> list[str]:
        """Every corpus in the store, the settings' own first."""
        names = self.store().corpora()
        return [self.settings.corpus] + [n for n in names if n != self.settings.corpus]

    def ingest(
        self, paths: list[Path], corpus: str | None = None,
        progress: Callable[[int, int], object] | None = None,
    ) -> IngestReport:
        """Ingest files into ``corpus`` with the shared embedder; ``progress`` as in :func:`ingest`."""
        settings = self.settings_for(corpus)

        def callback(total: int) -> Progress:
            done = [0]

            def tick(n: int) -> None:  # ingest reports increments; the UI shows the sum
                done[0] += n
                progress(done[0], total)
            return tick

        report = ingest(paths, settings, store=self.store(corpus), embedder=self.embedder(),
                        progress=callback if progress is not None else None)
        self.metrics.ingested(report)
        return report

    @contextmanager
    def upload_dir(self, corpus: str | None = None) -> Iterator[Path]:
        """Where uploaded files wait for :meth:`ingest`; emptied afterwards.

        The same directory for every upload to a corpus: an article without a URL is
        keyed by the path of its file, so uploading it again finds it unchanged, as
        ingesting the same file again does. One upload at a time per server.
        """
        settings = self.settings_for(corpus)
        path = settings.data_dir / "uploads" / settings.corpus
        with self._upload_lock:
            path.mkdir(parents=True, exist_ok=True)
            try:
                yield path
            finally:
                for staged in path.iterdir():
                    staged.unlink(missing_ok=True)

    def ingest_records(self, articles: Sequence[Mapping[str, Any]], corpus: str | None = None) -> IngestReport:
        """Ingest articles given as records of the standard JSONL fields (text, url, title, ...)."""
        with self.upload_dir(corpus) as staging:
            path = staging / "records.jsonl"
            path.write_text("".join(json.dumps(a, ensure_ascii=False) + "\n" for a in articles), encoding="utf-8")
            # The records use the standard names: the mapping for the user's own files does not apply.
            plain = self.settings_for(corpus).model_copy(update={"jsonl_fields": {}})
            report = ingest([path], plain, store=self.store(corpus), embedder=self.embedder())
        self.metrics.ingested(report)
        return report


    def ingest_web(
        self, urls: Sequence[str], feeds: Sequence[str], corpus: str | None = None
    ) -> tuple[SyncReport, IngestReport]:
        """Fetch pages and feeds' new articles (:func:`index.web.ingest_web`) into ``corpus``."""
        fetched, report = ingest_web(self.settings_for(corpus), urls=urls, feeds=feeds, store=self.store(corpus),
                                     embedder=self.embedder())
        self.metrics.ingested(report)
        return fetched, report

    def answered(self, answer: Answer, channel: str) -> None:
        """Log one answer (:func:`log_answer`) and count it in the metrics."""
        log_answer(answer, channel)
        self.metrics.answered(answer, channel)


def log_answer(answer: Answer, channel: str) -> None:
    """One structured log line per answered question: never keys, tokens or user names."""
    log.info(json.dumps({
        "event": "answer", "channel": channel, "question": answer.question[:300], "status": answer.status,
        "ms": answer.timings.get("total_ms"), "generator": answer.generator,
        "sources": sorted({c.passage.url or c.passage.article_id for c in answer.citations}),
    }))
