"""The Chroma store of chunks: the only module that imports chromadb.

One collection per corpus holds every chunk with its vector, text and
metadata. Everything the ingest needs to stay idempotent and crash-safe is
derived from that metadata, so the store is the single source of truth (no
side manifest that could disagree with it after a crash, or between replicas):

* an article is *complete* when its chunks ``0..n_chunks-1`` all carry the
  article's current ``content_hash`` and no other chunk of it exists;
* chunk ids are ``<article key>:<index>``, so rewriting an article overwrites
  its chunks in place and a rerun after a crash repeats the same upserts.
"""

from __future__ import annotations

import functools
import inspect
import logging
import os
import shutil
import sqlite3
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import chromadb
import httpx
from chromadb.config import Settings as ChromaSettings
from llama_index.core.schema import MetadataMode, TextNode

from rag.embed import settings_for
from rag.errors import (
    BackendError,
    BackendUnavailable,
    ConfigError,
    IndexNotFound,
    RagError,
)
from rag.keywords import KeywordLog, KeywordRow
from rag.settings import Settings

log = logging.getLogger(__name__)
_READ_BATCH = 500


@dataclass(frozen=True)
class ArticleState:
    """What the store holds of one article."""

    content_hash: str | None
    n_chunks: int
    chunk_hashes: dict[int, str]

    @property
    def complete(self) -> bool:
        """All chunks of the current version are present, and nothing else."""
        return (
            self.content_hash is not None
            and len(self.chunk_hashes) == self.n_chunks
            and all(self.chunk_hashes.get(i) == self.content_hash for i in range(self.n_chunks))
        )


@dataclass
class StoreStats:
    """Counts over a corpus, for ``rag stats``."""

    corpus: str
    articles: int = 0
    chunks: int = 0
    sources: Counter[str] = field(default_factory=Counter)
    first_published: str | None = None
    last_published: str | None = None
    undated: int = 0
    near_duplicates: int = 0
    embedder: str | None = None


def make_client(settings: Settings) -> Any:
    """A Chroma client: HTTP when ``chroma_host`` is set, else embedded on disk."""
    chroma_settings = ChromaSettings(
        anonymized_telemetry=False,
        chroma_server_ssl_verify=str(settings.chroma_ca_file) if settings.chroma_ca_file else None,
    )
    try:
        if settings.chroma_host:
            token = os.environ.get(settings.chroma_token_env)
            headers = {"Authorization": f"Bearer {token}"} if token else None
            return chromadb.HttpClient(
                host=settings.chroma_host,
                port=settings.chroma_port,
                ssl=settings.chroma_ssl,
                headers=headers,
                settings=chroma_settings,
            )
        settings.chroma_path.mkdir(parents=True, exist_ok=True)
        return _persistent_client(settings, chroma_settings)
    except Exception as exc:  # chromadb raises bare Exceptions for connection problems
        where = (
            f"{settings.chroma_host}:{settings.chroma_port}" if settings.chroma_host else settings.chroma_path
        )
        error = BackendUnavailable if settings.chroma_host else BackendError
        raise error(f"Cannot open the Chroma store at {where}: {exc}") from exc


def _persistent_client(settings: Settings, chroma_settings: ChromaSettings) -> Any:
    """The embedded client; a start that fails (out of files, say: Chroma's Rust core then
    panics, which Python sees as a BaseException) leaves no half-started instance behind, so
    the next call starts afresh once the cause is gone instead of failing for good."""
    try:
        return chromadb.PersistentClient(path=str(settings.chroma_path), settings=chroma_settings)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:
        _forget_instance(settings)
        if isinstance(exc, Exception):
            raise
        raise BackendError(f"Cannot open the Chroma store at {settings.chroma_path}: {exc}") from exc


F = TypeVar("F", bound=Callable[..., Any])

# ef_search well above the 50 candidates the retriever asks for: HNSW's default (100)
# misses a true neighbour now and then, and two stores holding the same vectors (an
# embedded one and its copy on a server) then rank differently.
HNSW_CONFIGURATION = {"hnsw": {"space": "cosine", "ef_search": 400}}


@contextmanager
def store_errors(settings: Settings) -> Iterator[None]:
    """Turn the Chroma client's transport failures into our errors, naming the server.

    A server that is down or restarting gives :class:`BackendUnavailable` (HTTP 503
    in the API); the HTTP client reconnects on the next call, so service resumes
    by itself once the server is back.
    """
    try:
        yield
    except RagError:
        raise
    except httpx.TransportError as exc:
        where = f"{settings.chroma_host}:{settings.chroma_port}"
        raise BackendUnavailable(
            f"The Chroma server at {where} is unreachable ({type(exc).__name__}): retry when it is back"
        ) from exc
    except chromadb.errors.ChromaError as exc:
        if isinstance(exc, chromadb.errors.NotFoundError):
            raise
        if not settings.chroma_host:
            _reopen(settings)
        raise BackendError(f"The Chroma store failed: {exc}{_disk_hint(settings)}") from exc
    except Exception as exc:
        # The HTTP client raises a bare Exception with the body of a response it cannot
        # parse (a proxy's 502 page while the server restarts); our own bugs keep their type.
        if type(exc) is not Exception or not settings.chroma_host:
            raise
        raise BackendError(
            f"The Chroma server at {settings.chroma_host}:{settings.chroma_port} answered: {str(exc)[:200]}"
        ) from exc


# Embedded stores whose Chroma instance failed, by path: each failure counts one more, and every
# ChunkStore on that path opens a new client before its next call (see _reopen).
_FAILURES: Counter[str] = Counter()


def _reopen(settings: Settings) -> None:
    """Have every ChunkStore of this process open the embedded store at ``chroma_path`` afresh.

    After a failed write (a full disk: "Error in compaction"), Chroma's embedded instance
    blocks the next write for good, holding the GIL, so the whole process hangs (seen with
    chromadb 1.5 in tests/index/test_disk_full.py). A new instance reads the same files and
    works: so forget the failed one.
    """
    _forget_instance(settings)
    _FAILURES[str(settings.chroma_path)] += 1


def _forget_instance(settings: Settings) -> None:
    """Drop the embedded Chroma instance chromadb keeps per path for the process (it has no
    public call for one path), so the next client of that path starts a new one."""
    from chromadb.api.shared_system_client import SharedSystemClient

    SharedSystemClient._identifier_to_system.pop(str(settings.chroma_path), None)


# Below this much free space, a failed write is taken for a full disk: Chroma reports one only
# as a failed compaction or a failed write to its segments.
_LOW_DISK = 64 * 2**20


def _disk_hint(settings: Settings) -> str:
    """What to do when the embedded store's disk is (nearly) full; '' otherwise."""
    if settings.chroma_host:
        return ""
    try:
        free = shutil.disk_usage(settings.chroma_path).free
    except OSError:
        return ""
    if free >= _LOW_DISK:
        return ""
    return (f" (the disk holding {settings.chroma_path} is full: {free / 2**20:.1f} MB free; make room and run "
            "again: what was stored is intact, and the next run completes the rest)")


def _guarded(method: F) -> F:
    """Apply :func:`store_errors` to a method (and to the iteration of a generator method)."""
    if inspect.isgeneratorfunction(method):
        @functools.wraps(method)
        def gen(self: ChunkStore, *args: Any, **kwargs: Any) -> Any:
            with store_errors(self.settings):
                yield from method(self, *args, **kwargs)
        return gen  # type: ignore[return-value]

    @functools.wraps(method)
    def call(self: ChunkStore, *args: Any, **kwargs: Any) -> Any:
        with store_errors(self.settings):
            return method(self, *args, **kwargs)
    return call  # type: ignore[return-value]


class ChunkStore:
    """Read and write one corpus's chunks."""

    def __init__(self, settings: Settings, *, client: Any | None = None) -> None:
        """Use ``client`` if given (tests, servers), else build one from the settings."""
        self.settings = settings
        self._given = client
        self._client: Any = client if client is not None else make_client(settings)
        self._opened_after = _FAILURES[str(settings.chroma_path)]
        self._collection: Any | None = None

    @property
    def client(self) -> Any:
        """The Chroma client: the one given, else our own, opened again after the embedded
        store failed (:func:`_reopen`)."""
        if self._given is not None:
            return self._given
        failures = _FAILURES[str(self.settings.chroma_path)]
        if not self.settings.chroma_host and failures != self._opened_after:
            self._client, self._opened_after, self._collection = make_client(self.settings), failures, None
        return self._client

    @_guarded
    def collection(self, *, create: bool = False, embedder: str | None = None) -> Any:
        """The corpus's collection; ``create`` makes it, recording ``embedder``."""
        client = self.client  # first: a reopened client drops the collection of the old one
        if self._collection is None:
            name = self.settings.corpus
            try:
                if create:
                    self._collection = client.get_or_create_collection(
                        name,
                        metadata={"embedder": embedder or "unknown"},
                        configuration=HNSW_CONFIGURATION,
                    )
                else:
                    self._collection = client.get_collection(name)
            except chromadb.errors.NotFoundError as exc:
                raise IndexNotFound(
                    f"Corpus '{name}' has no articles yet: run `rag --corpus {name} ingest PATH`"
                ) from exc
        if embedder is not None:
            stored = (self._collection.metadata or {}).get("embedder")
            if stored not in (None, embedder):
                raise ConfigError(
                    f"Corpus '{self.settings.corpus}' was embedded with {stored}, not {embedder}: "
                    f"set {settings_for(stored)} to use it, or use another corpus name"
                )
        return self._collection

    @_guarded
    def corpora(self) -> list[str]:
        """Names of every corpus in the store (the client's collections)."""
        return sorted(c if isinstance(c, str) else c.name for c in self.client.list_collections())

    @_guarded
    def article_states(self, keys: Sequence[str]) -> dict[str, ArticleState]:
        """The stored state of each of ``keys`` that has any chunk."""
        col = self.collection()
        found: dict[str, dict[str, Any]] = {}
        for i in range(0, len(keys), _READ_BATCH):
            batch = list(keys[i : i + _READ_BATCH])
            res = col.get(where={"document_id": {"$in": batch}}, include=["metadatas"])
            for meta in res["metadatas"]:
                st = found.setdefault(meta["document_id"], {"hash": None, "n": 0, "chunks": {}})
                st["chunks"][int(meta["chunk_index"])] = meta["content_hash"]
                if meta["chunk_index"] == 0:
                    st["hash"], st["n"] = meta["content_hash"], int(meta["n_chunks"])
        return {
            k: ArticleState(content_hash=v["hash"], n_chunks=v["n"], chunk_hashes=v["chunks"])
            for k, v in found.items()
        }

    @_guarded
    def write(
        self,
        nodes: Sequence[TextNode],
        embeddings: Sequence[Sequence[float]],
        stale_ids: Iterable[str] = (),
    ) -> None:
        """Upsert chunks, then remove ``stale_ids`` (chunks of older versions).

        Upsert before delete: a crash in between leaves a superseded tail that
        the next run sees as incomplete and removes, never a missing article.
        """
        col = self.collection()
        limit = self.client.get_max_batch_size()
        before = self._begin_change()  # the keyword log is stamped only if it matched this
        for i in range(0, len(nodes), limit):
            part = nodes[i : i + limit]
            col.upsert(
                ids=[n.node_id for n in part],
                embeddings=[list(e) for e in embeddings[i : i + limit]],
                documents=[n.get_content(metadata_mode=MetadataMode.NONE) for n in part],
                metadatas=[_clean_meta(n.metadata) for n in part],
            )
        stale = list(stale_ids)
        if stale:
            col.delete(ids=stale)
        after = self._bump_version()
        rows = [KeywordRow.from_meta(n.node_id, n.get_content(metadata_mode=MetadataMode.NONE), n.metadata) for n in nodes]
        self._log_change(rows, stale, expected=before, version=after)

    @_guarded
    def copy_to(self, target: ChunkStore, batch: int = 1000) -> int:
        """Copy every chunk, vector and metadata into ``target`` (another store or server), without
        re-embedding; upserts by id, so re-running it is safe. Returns the chunks copied."""
        src = self.collection()
        embedder = (src.metadata or {}).get("embedder")
        col = target.collection(create=True, embedder=embedder)
        total = src.count()
        with store_errors(target.settings):  # a failing target is named as such
            limit = min(batch, target.client.get_max_batch_size())
        target._bump_version()
        for offset in range(0, total, limit):
            res = src.get(include=["documents", "metadatas", "embeddings"], limit=limit, offset=offset)
            with store_errors(target.settings):
                col.upsert(ids=res["ids"], documents=res["documents"], metadatas=res["metadatas"],
                           embeddings=[list(e) for e in res["embeddings"]])
        target._bump_version()
        return total

    @_guarded
    def delete_chunks(self, ids: Sequence[str]) -> None:
        """Remove chunks by id."""
        if ids:
            before = self._begin_change()
            self.collection().delete(ids=list(ids))
            self._log_change([], ids, expected=before, version=self._bump_version())

    @_guarded
    def delete_articles(self, where: Mapping[str, Any]) -> tuple[int, int]:
        """Delete every chunk matching a metadata filter; returns (articles, chunks)."""
        col = self.collection()
        res = col.get(where=dict(where), include=["metadatas"])
        ids = res["ids"]
        articles = {m["document_id"] for m in res["metadatas"]}
        if ids:
            before = self._begin_change()
            for i in range(0, len(ids), self.client.get_max_batch_size()):
                col.delete(ids=ids[i : i + self.client.get_max_batch_size()])
            self._log_change([], ids, expected=before, version=self._bump_version())
        return len(articles), len(ids)

    def delete_article(self, article_id: str) -> tuple[int, int]:
        """Delete one article by the id given at ingest or its stored key; returns (articles, chunks)."""
        return self.delete_articles({"$or": [{"article_id": article_id}, {"document_id": article_id}]})

    @_guarded
    def version(self) -> str:
        """The corpus's change marker; differs after any write or delete.

        Read fresh from the server each time, so another process's (or
        replica's) changes are seen at once.
        """
        col = self.client.get_collection(self.settings.corpus)
        return str((col.metadata or {}).get("version", "0"))

    def keywords(self) -> KeywordLog:
        """The corpus's keyword log (:mod:`rag.bm25`), kept beside the store in the data dir
        and written in the same call as each change to the store."""
        return KeywordLog(self.settings.data_dir / "bm25" / f"{self.settings.corpus}.sqlite")

    def _begin_change(self) -> str:
        """Tell the keyword log's searchers a change is under way (so the store's new version
        is not taken for a log left behind), then bump the version; returns the one before."""
        try:
            self.keywords().begin_write()
        except (sqlite3.Error, OSError) as exc:
            log.warning("Could not mark the keyword log %s as being written (%s)", self.keywords().path, exc)
        before = self.version()
        self._bump_version()
        return before

    def _log_change(self, rows: list[KeywordRow], removed: Sequence[str], *, expected: str, version: str) -> None:
        try:
            self.keywords().apply(rows, removed, expected=expected, version=version)
        except (sqlite3.Error, OSError) as exc:
            # The log is derived from the store, which holds the change already: an unwritable
            # log stays behind and the next searcher rebuilds it from Chroma.
            log.warning("Could not record the change in the keyword log %s (%s); it will be rebuilt",
                        self.keywords().path, exc)

    @_guarded
    def _bump_version(self) -> str:
        # Bumped before and after each change: a reader that built a derived
        # index (BM25) while a change was under way sees a newer version later.
        # Returns the new version.
        col = self.collection()
        meta = dict(col.metadata or {})
        meta["version"] = uuid.uuid4().hex
        col.modify(metadata=meta)
        return meta["version"]

    @_guarded
    def iter_chunks(self, batch: int = 5000) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """Every chunk as ``(id, text, metadata)``, in pages."""
        col = self.collection()
        offset = 0
        while True:
            res = col.get(include=["documents", "metadatas"], limit=batch, offset=offset)
            if not res["ids"]:
                return
            yield from zip(res["ids"], res["documents"], res["metadatas"])
            offset += len(res["ids"])

    @_guarded
    def fetch(self, ids: Sequence[str]) -> dict[str, TextNode]:
        """Chunks by id, as llama-index nodes (missing ids are left out)."""
        if not ids:
            return {}
        res = self.collection().get(ids=list(ids), include=["documents", "metadatas"])
        return {
            cid: TextNode(
                id_=cid,
                text=text,
                metadata=meta,
                start_char_idx=meta.get("start_char"),
                end_char_idx=meta.get("end_char"),
            )
            for cid, text, meta in zip(res["ids"], res["documents"], res["metadatas"])
        }

    @_guarded
    def counts(self) -> tuple[int, int]:
        """(articles, chunks) without reading metadata: cheap enough for health checks."""
        col = self.collection()
        return len(col.get(where={"chunk_index": 0}, include=[])["ids"]), col.count()

    @_guarded
    def first_chunks(self) -> list[dict[str, Any]]:
        """Metadata of chunk 0 of every article (one row per article)."""
        res = self.collection().get(where={"chunk_index": 0}, include=["metadatas"])
        return list(res["metadatas"])

    def signatures(self) -> dict[str, str]:
        """Stored MinHash signatures by article key."""
        return {m["document_id"]: m["minhash"] for m in self.first_chunks() if m.get("minhash")}

    @_guarded
    def stats(self, firsts: list[dict[str, Any]] | None = None) -> StoreStats:
        """Articles, chunks, sources and date range of the corpus (``firsts``: the
        :meth:`first_chunks` rows, when the caller has already read them)."""
        col = self.collection()
        firsts = self.first_chunks() if firsts is None else firsts
        dates = sorted(m["published"] for m in firsts if m.get("published"))
        return StoreStats(
            corpus=self.settings.corpus,
            articles=len(firsts),
            chunks=col.count(),
            sources=Counter(m.get("source") or "(none)" for m in firsts),
            first_published=dates[0] if dates else None,
            last_published=dates[-1] if dates else None,
            undated=len(firsts) - len(dates),
            near_duplicates=sum(1 for m in firsts if m.get("near_dup_of")),
            embedder=(col.metadata or {}).get("embedder"),
        )

    def vector_store(self) -> Any:
        """The corpus as a llama-index ``ChromaVectorStore``, for retrievers."""
        from llama_index.vector_stores.chroma import ChromaVectorStore

        return ChromaVectorStore(chroma_collection=self.collection())

    @_guarded
    def dump(self) -> dict[str, tuple[str, dict[str, Any], list[float]]]:
        """Every chunk as ``id -> (text, metadata, embedding)``; for tests and audits."""
        col = self.collection()
        out: dict[str, tuple[str, dict[str, Any], list[float]]] = {}
        total = col.count()
        for offset in range(0, total, 5000):
            res = col.get(
                include=["documents", "metadatas", "embeddings"], limit=5000, offset=offset
            )
            for i, cid in enumerate(res["ids"]):
                out[cid] = (res["documents"][i], res["metadatas"][i], list(res["embeddings"][i]))
        return out


def _clean_meta(meta: Mapping[str, Any]) -> dict[str, Any]:
    # Chroma accepts only str, int, float and bool values, and no None.
    return {k: v for k, v in meta.items() if isinstance(v, (str, int, float, bool))}

