"""The ingest pipeline: files -> cleaned articles -> chunks -> vectors -> Chroma.

Idempotent and crash-safe by construction (see :mod:`rag.store`): each
article's identity is its URL (or path), its version is a hash of its content
and of the pipeline settings, and the store's own metadata says what is done.
Re-ingesting unchanged input embeds nothing; a changed article is rewritten in
place; a run killed at any point and run again converges to the same store.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from llama_index.core import Document
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.schema import TextNode

from index import dedup
from index.chunk import Chunker
from index.clean import BoilerplateCleaner, CleanReport
from index.load import LoadItem, Skipped, iter_articles
from rag.embed import embedder_id, make_embedder
from rag.errors import BackendError, InputError
from rag.settings import Settings
from rag.store import ArticleState, ChunkStore

# Bump when cleaning or chunking changes what is stored, so that a re-ingest
# rewrites articles made by the older pipeline.
PIPELINE_VERSION = 1
# Articles cleaned together: template detection needs many articles, and a
# bounded window keeps memory flat on huge inputs.
WINDOW = 2000
# Chunks embedded and written per step; also the progress granularity.
WRITE_BATCH = 256


@dataclass(frozen=True)
class NearDuplicate:
    """An article found to nearly duplicate another."""

    key: str
    title: str
    url: str
    of_key: str
    similarity: float
    skipped: bool


@dataclass
class IngestReport:
    """What one ``ingest`` run did, for the CLI summary and benchmarks."""

    articles_seen: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    repaired: int = 0
    chunks_written: int = 0
    tokens_written: int = 0
    near_duplicates: list[NearDuplicate] = field(default_factory=list)
    errors: list[InputError] = field(default_factory=list)
    skipped_files: list[Skipped] = field(default_factory=list)
    cleaning: CleanReport = field(default_factory=CleanReport)
    seconds: float = 0.0
    embed_seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """False if any input could not be ingested."""
        return not self.errors


Progress = Callable[[int], None]


def ingest(
    paths: Iterable[Path | str],
    settings: Settings,
    *,
    store: ChunkStore | None = None,
    embedder: BaseEmbedding | None = None,
    progress: Callable[[int], Progress] | None = None,
) -> IngestReport:
    """Ingest every article under ``paths`` into the settings' corpus.

    ``progress``, if given, is called with the number of articles of a window and
    returns a callback that receives how many of them are done.
    Bad files and records are collected in the report; everything else is stored.
    """
    return ingest_items(iter_articles(paths, settings), settings, store=store, embedder=embedder, progress=progress)


def ingest_items(
    items: Iterable[LoadItem],
    settings: Settings,
    *,
    store: ChunkStore | None = None,
    embedder: BaseEmbedding | None = None,
    progress: Callable[[int], Progress] | None = None,
) -> IngestReport:
    """Ingest articles already loaded (files read, pages fetched): documents are stored,
    problems and skips go to the report, as :func:`ingest` does for paths."""
    started = time.perf_counter()
    store = store or ChunkStore(settings)
    report = IngestReport()
    model_id = embedder_id(settings)
    pipeline = _pipeline_signature(settings, model_id)
    with _ingest_lock(settings):
        store.collection(create=True, embedder=model_id)
        chunker = Chunker(chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap)
        lazy = _LazyEmbedder(settings, embedder)
        near = _LazyNearDuplicates(store, settings.near_duplicate_threshold)
        with _Behind() as behind:
            for window in _windows(iter(items), report):
                _ingest_window(window, settings, store, chunker, lazy, near, pipeline, report, progress, behind)
        report.embed_seconds = lazy.seconds
    report.seconds = time.perf_counter() - started
    return report


def _windows(items: Iterator[Any], report: IngestReport) -> Iterator[list[Document]]:
    window: list[Document] = []
    for item in items:
        if isinstance(item, InputError):
            report.errors.append(item)
        elif isinstance(item, Skipped):
            report.skipped_files.append(item)
        else:
            window.append(item)
            if len(window) >= WINDOW:
                yield window
                window = []
    if window:
        yield window


def _ingest_window(
    docs: list[Document],
    settings: Settings,
    store: ChunkStore,
    chunker: Chunker,
    embedder: _LazyEmbedder,
    near: _LazyNearDuplicates,
    pipeline: str,
    report: IngestReport,
    progress: Callable[[int], Progress] | None,
    behind: _Behind,
) -> None:
    report.articles_seen += len(docs)
    # The same article twice in one input: the last occurrence is the one kept.
    latest = {doc.id_: doc for doc in docs}
    docs = [d for d in docs if latest[d.id_] is d]
    cleaner = BoilerplateCleaner() if settings.clean_boilerplate else None
    if cleaner is not None:
        cleaner.fit([d.text for d in docs])
    states = store.article_states([d.id_ for d in docs])
    tick = progress(len(docs)) if progress else None

    def done_one() -> None:
        if tick:
            tick(1)

    pending: list[tuple[Document, list[TextNode], ArticleState | None]] = []
    for doc in docs:
        content_hash = _content_hash(doc, pipeline)
        state = states.get(doc.id_)
        if state is not None and state.content_hash == content_hash and state.complete:
            report.unchanged += 1
            done_one()
            continue
        if state is not None and _only_stale_tail(state, content_hash):
            # A crash after the new version's upsert but before the old tail's delete.
            tail = [f"{doc.id_}:{i}" for i in state.chunk_hashes if i >= state.n_chunks]
            behind.run(functools.partial(store.delete_chunks, tail))
            report.repaired += 1
            done_one()
            continue
        text = cleaner.clean(doc.text) if cleaner is not None else doc.text
        if not text.strip():
            report.errors.append(
                InputError(
                    doc.metadata["path"],
                    "nothing left after removing boilerplate",
                    line=doc.metadata["line"] or None,
                )
            )
            done_one()
            continue
        cleaned = Document(id_=doc.id_, text=text, metadata=dict(doc.metadata))
        sig = dedup.signature(text)
        match = near.index().best_match(doc.id_, sig)
        if match is not None:
            skip = settings.skip_near_duplicates
            report.near_duplicates.append(
                NearDuplicate(
                    key=doc.id_,
                    title=doc.metadata["title"],
                    url=doc.metadata["url"],
                    of_key=match[0],
                    similarity=round(match[1], 3),
                    skipped=skip,
                )
            )
            if skip:
                done_one()
                continue
        near.index().add(doc.id_, sig)
        nodes = chunker.split(cleaned)
        extra = {
            "document_id": doc.id_,
            "content_hash": content_hash,
            "near_dup_of": match[0] if match else "",
        }
        published = doc.metadata.get("published")
        if published:
            extra["published_day"] = date.fromisoformat(published).toordinal()
        for node in nodes:
            node.metadata.update(extra)
        nodes[0].metadata["minhash"] = dedup.encode(sig)
        pending.append((doc, nodes, state))
        if sum(len(n) for _, n, _ in pending) >= WRITE_BATCH:
            behind.run(functools.partial(_flush, pending, store, embedder, report, tick))
            pending = []
    behind.run(functools.partial(_flush, pending, store, embedder, report, tick))
    # The next window reads the store's state of its articles: this one's writes must be in it.
    behind.wait()
    if cleaner is not None:
        for rule, n in cleaner.report.lines.items():
            report.cleaning.lines[rule] += n
            report.cleaning.chars[rule] += cleaner.report.chars[rule]


def _flush(
    pending: list[tuple[Document, list[TextNode], ArticleState | None]],
    store: ChunkStore,
    embedder: _LazyEmbedder,
    report: IngestReport,
    tick: Progress | None,
) -> None:
    if not pending:
        return
    nodes = [n for _, ns, _ in pending for n in ns]
    vectors = embedder.embed([n.text for n in nodes])
    stale = [
        f"{doc.id_}:{i}"
        for doc, ns, state in pending
        if state is not None
        for i in state.chunk_hashes
        if i >= len(ns)
    ]
    store.write(nodes, vectors, stale)
    for _, ns, state in pending:
        if state is None:
            report.added += 1
        else:
            report.updated += 1
        report.chunks_written += len(ns)
        report.tokens_written += sum(int(n.metadata["tokens"]) for n in ns)
    if tick:
        tick(len(pending))


def _only_stale_tail(state: ArticleState, content_hash: str) -> bool:
    return (
        state.content_hash == content_hash
        and all(state.chunk_hashes.get(i) == content_hash for i in range(state.n_chunks))
        and any(i >= state.n_chunks for i in state.chunk_hashes)
    )


def _pipeline_signature(settings: Settings, model_id: str) -> str:
    return json.dumps(
        [
            PIPELINE_VERSION,
            model_id,
            settings.chunk_size,
            settings.chunk_overlap,
            settings.clean_boilerplate,
        ]
    )


def _content_hash(doc: Document, pipeline: str) -> str:
    meta = {k: v for k, v in doc.metadata.items() if k not in ("path", "line")}
    basis = json.dumps([pipeline, doc.text, meta], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(basis.encode("utf-8")).hexdigest()[:24]


class _Behind:
    """Runs one step (embed a batch and write it) in a worker thread while the caller
    cleans and chunks the next batch: the model and Chroma's writer spend their time
    outside the interpreter, so loading and chunking use the core they leave.

    At most one step is in flight (memory stays flat), steps run in order (a crash
    leaves what a sequential ingest would), and a step's error is raised in the caller
    at its next call.
    """

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-write")
        self._step: Future[None] | None = None

    def run(self, step: Callable[[], None]) -> None:
        """Wait for the step in flight, then start ``step``."""
        self.wait()
        self._step = self._pool.submit(step)

    def wait(self) -> None:
        """Wait for the step in flight; raise its error, if any."""
        step, self._step = self._step, None
        if step is not None:
            step.result()

    def __enter__(self) -> _Behind:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *_: object) -> None:
        try:
            if exc_type is None:
                self.wait()
            elif self._step is not None:
                # Let the write in flight finish (the store stays as a sequential ingest
                # leaves it) without hiding the error already on its way up.
                self._step.exception()
        finally:
            self._pool.shutdown(wait=True)


class _LazyEmbedder:
    """Loads the model on first use: a re-ingest with nothing new never pays for it."""

    def __init__(self, settings: Settings, embedder: BaseEmbedding | None) -> None:
        self._settings = settings
        self._embedder = embedder
        self.seconds = 0.0

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if self._embedder is None:
            self._embedder = make_embedder(self._settings)
        started = time.perf_counter()
        try:
            vectors = self._embedder.get_text_embedding_batch(list(texts))
        except Exception as exc:  # provider errors vary; name the backend and stop
            raise BackendError(f"Embedding with {embedder_id(self._settings)} failed: {exc}") from exc
        self.seconds += time.perf_counter() - started
        return vectors


class _LazyNearDuplicates:
    """Loads stored signatures only when some article needs checking."""

    def __init__(self, store: ChunkStore, threshold: float) -> None:
        self._store = store
        self._threshold = threshold
        self._index: dedup.NearDuplicates | None = None

    def index(self) -> dedup.NearDuplicates:
        if self._index is None:
            self._index = dedup.NearDuplicates(self._threshold)
            for key, sig in self._store.signatures().items():
                self._index.add(key, dedup.decode(sig))
        return self._index


@contextmanager
def _ingest_lock(settings: Settings) -> Iterator[None]:
    """One ingest at a time per data dir; the OS releases it if we are killed."""
    if settings.chroma_host:
        # Against a server, chunk ids and upserts make concurrent ingests converge.
        yield
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.data_dir / "ingest.lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackendError(
                f"Another ingest is running on {settings.data_dir}; wait for it to finish"
            ) from None
        yield
