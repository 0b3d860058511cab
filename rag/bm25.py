"""A BM25 index of a corpus's chunks, derived from the Chroma store.

Chroma is the source of truth; this index is a cache of it, keyed by the
store's version marker (bumped around every write and delete, see
:meth:`index.store.ChunkStore.version`). On load and before each search the
version is compared, and a stale index is rebuilt, so the index follows ingests
and deletes made by this process, another process or another replica, and
survives restarts (it is saved under the data dir, written atomically).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bm25s
import numpy as np
import Stemmer

from index.store import ChunkStore
from rag.types import Filters

_STEMMER = Stemmer.Stemmer("english")


def _tokenize(texts: list[str], *, ids: bool) -> Any:
    return bm25s.tokenize(texts, stopwords="en", stemmer=_STEMMER, return_ids=ids, show_progress=False)


@dataclass
class _Built:
    version: str
    ids: list[str]
    days: np.ndarray  # published day ordinal per chunk, 0 if undated
    sources: np.ndarray  # source per chunk
    bm25: bm25s.BM25 | None  # None for an empty corpus


class BM25Index:
    """Keyword search over one corpus, kept in step with the store."""

    def __init__(self, store: ChunkStore, cache_dir: Path) -> None:
        """``cache_dir`` holds the saved index of this corpus."""
        self.store = store
        self.cache_dir = cache_dir
        self._built: _Built | None = None
        self._lock = threading.Lock()

    def search(self, query: str, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        """Top ``k`` chunk ids with BM25 scores (> 0), honouring the filters."""
        built = self._current()
        if built.bm25 is None or not built.ids:
            return []
        tokens = _tokenize([query], ids=False)
        if not tokens or not tokens[0]:
            return []
        mask = _mask(built, filters) if filters is not None and not filters.is_empty() else None
        if mask is not None and not mask.any():
            return []
        k = min(k, len(built.ids))
        docs, scores = built.bm25.retrieve(tokens, k=k, weight_mask=mask, show_progress=False, n_threads=1)
        return [(built.ids[int(d)], float(s)) for d, s in zip(docs[0], scores[0]) if s > 0]

    def _current(self) -> _Built:
        version = self.store.version()
        with self._lock:
            if self._built is not None and self._built.version == version:
                return self._built
            loaded = self._load()
            if loaded is not None and loaded.version == version:
                self._built = loaded
                return loaded
            self._built = self._build(version)
            self._save(self._built)
            return self._built

    def _build(self, version: str) -> _Built:
        ids: list[str] = []
        texts: list[str] = []
        days: list[int] = []
        sources: list[str] = []
        for cid, text, meta in self.store.iter_chunks():
            ids.append(cid)
            texts.append(text)
            days.append(int(meta.get("published_day", 0)))
            sources.append(str(meta.get("source", "")))
        bm25 = None
        if texts:
            bm25 = bm25s.BM25()
            bm25.index(_tokenize(texts, ids=True), show_progress=False)
        return _Built(version, ids, np.array(days, dtype=np.int64), np.array(sources, dtype=object), bm25)

    def _save(self, built: _Built) -> None:
        self.cache_dir.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=self.cache_dir.parent, prefix=".bm25-"))
        try:
            if built.bm25 is not None:
                built.bm25.save(str(tmp / "bm25"))
            (tmp / "chunks.json").write_text(
                json.dumps({"ids": built.ids, "days": built.days.tolist(), "sources": built.sources.tolist()})
            )
            # The version file is written last: a cache without it is ignored.
            (tmp / "version").write_text(built.version)
            old = self.cache_dir.with_name(self.cache_dir.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            if self.cache_dir.exists():
                os.replace(self.cache_dir, old)
            os.replace(tmp, self.cache_dir)
            shutil.rmtree(old, ignore_errors=True)
        except OSError:
            # A read-only or contended cache is not fatal: the index lives in memory.
            shutil.rmtree(tmp, ignore_errors=True)

    def _load(self) -> _Built | None:
        try:
            version = (self.cache_dir / "version").read_text()
            raw = json.loads((self.cache_dir / "chunks.json").read_text())
            bm25 = bm25s.BM25.load(str(self.cache_dir / "bm25")) if raw["ids"] else None
        except (OSError, ValueError, KeyError):
            return None
        return _Built(
            version,
            list(raw["ids"]),
            np.array(raw["days"], dtype=np.int64),
            np.array(raw["sources"], dtype=object),
            bm25,
        )


def _mask(built: _Built, filters: Filters) -> np.ndarray:
    mask = np.ones(len(built.ids), dtype=bool)
    if filters.date_from is not None:
        mask &= built.days >= filters.date_from.toordinal()
    if filters.date_to is not None:
        mask &= (built.days <= filters.date_to.toordinal()) & (built.days > 0)
    if filters.sources:
        mask &= np.isin(built.sources, list(filters.sources))
    return mask.astype(np.float32)
