"""Keyword search (BM25) over a corpus's chunks, kept in step with the store incrementally.

Chroma is the source of truth. Beside it, each corpus has a *keyword log*: a SQLite
file holding every chunk's tokens, written by whoever writes the store (see
:meth:`rag.store.ChunkStore.write`) in the same call, and stamped with the store
version it matches. Searchers keep an in-memory BM25 index and, when the store's
version changes, read from the log only the rows added and removed since they last
looked: one new article costs milliseconds, not a rebuild of the corpus (bm25s, the
usual library, cannot add documents to an index; SQLite's FTS5 can, but scores every
match of a disjunctive query and took 65 ms a question here against 3 ms).

A log that does not match the store (written by a replica with another data dir, or
a corpus older than the log) is rebuilt from Chroma in the background while the
previous index keeps answering; only a process with no index at all waits for it.
Searchers save a snapshot of their index (one ``.npz`` file, replaced atomically) so
a cold start loads it instead of re-reading the log.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import time
import zipfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from rag.keywords import KeywordRow, LogState, tokenize
from rag.types import Filters

if TYPE_CHECKING:
    from rag.store import ChunkStore

log = logging.getLogger(__name__)

# Lucene's BM25 parameters (bm25s's default method).
K1 = 1.5
B = 0.75
# A store version without a matching log for this long (since the log was last stamped, and
# since this searcher first saw that version) is not a write in progress but a log that must
# be rebuilt: a writer stamps the log within the same call.
STALE_AFTER_S = 5.0
# A writer that said it began a change (KeywordLog.begin_write) and has not recorded it after
# this long has died: its mark no longer holds a rebuild back.
WRITER_GONE_S = 600.0
# Rows applied since the last snapshot before a searcher saves a new one.
_SNAPSHOT_EVERY = 2000


class _Postings:
    """The in-memory index: a (chunks x terms) matrix of term counts, column-major so a
    query reads one column per term, with removed rows masked until compaction."""

    def __init__(self, generation: str) -> None:
        self.generation = generation
        self.version: str | None = None
        self.seq = 0
        self.removed_seq = 0
        self.ids: list[str] = []
        self.row_seq = np.zeros(0, dtype=np.int64)
        self.days = np.zeros(0, dtype=np.int64)
        self.sources = np.zeros(0, dtype=object)
        self.lengths = np.zeros(0, dtype=np.float32)
        self.alive = np.zeros(0, dtype=bool)
        self.terms: dict[str, int] = {}
        self.counts = sp.csc_matrix((0, 0), dtype=np.float32)
        self.applied_since_snapshot = 0
        self._row_of: dict[int, int] = {}
        self._refresh_stats()

    def _refresh_stats(self) -> None:
        self.n_alive = int(self.alive.sum())
        self.avg_length = float(self.lengths[self.alive].mean()) if self.n_alive else 1.0

    def add(self, rows: Sequence[tuple[int, str, int, str, str]]) -> None:
        """Append rows ``(seq, id, day, source, space-joined tokens)``."""
        if not rows:
            return
        data: list[float] = []
        row_idx: list[int] = []
        col_idx: list[int] = []
        lengths = []
        base = len(self.ids)
        for i, (_, _, _, _, tokens) in enumerate(rows):
            counts = Counter(tokens.split())
            lengths.append(sum(counts.values()))
            for term, n in counts.items():
                col = self.terms.setdefault(term, len(self.terms))
                row_idx.append(i)
                col_idx.append(col)
                data.append(n)
        shape = (len(rows), len(self.terms))
        new = sp.csc_matrix((np.asarray(data, dtype=np.float32), (row_idx, col_idx)), shape=shape)
        old = self.counts
        old.resize((old.shape[0], len(self.terms)))
        self.counts = sp.vstack([old, new], format="csc", dtype=np.float32)
        self.ids += [r[1] for r in rows]
        seqs = np.array([r[0] for r in rows], dtype=np.int64)
        self.row_seq = np.concatenate([self.row_seq, seqs])
        self.days = np.concatenate([self.days, np.array([r[2] for r in rows], dtype=np.int64)])
        self.sources = np.concatenate([self.sources, np.array([r[3] for r in rows], dtype=object)])
        self.lengths = np.concatenate([self.lengths, np.array(lengths, dtype=np.float32)])
        self.alive = np.concatenate([self.alive, np.ones(len(rows), dtype=bool)])
        self._row_of.update({int(s): base + i for i, s in enumerate(seqs)})
        self.seq = max(self.seq, int(seqs.max()))
        self.applied_since_snapshot += len(rows)
        self._refresh_stats()

    def remove(self, chunk_seqs: Sequence[int]) -> None:
        """Mask the rows of removed chunks; compact once a quarter of the rows are dead."""
        for s in chunk_seqs:
            row = self._row_of.pop(int(s), None)
            if row is not None:
                self.alive[row] = False
        self.applied_since_snapshot += len(chunk_seqs)
        if len(self.ids) and (~self.alive).sum() > len(self.ids) / 4:
            self._compact()
        self._refresh_stats()

    def _compact(self) -> None:
        keep = np.flatnonzero(self.alive)
        self.counts = self.counts.tocsr()[keep].tocsc()
        self.ids = [self.ids[i] for i in keep]
        self.row_seq, self.days = self.row_seq[keep], self.days[keep]
        self.sources, self.lengths = self.sources[keep], self.lengths[keep]
        self.alive = np.ones(len(keep), dtype=bool)
        self._row_of = {int(s): i for i, s in enumerate(self.row_seq)}

    def search(self, tokens: Sequence[str], k: int, mask: np.ndarray | None) -> list[tuple[str, float]]:
        """Top ``k`` live rows by BM25 for the query ``tokens``, within ``mask``."""
        cols = [self.terms[t] for t in dict.fromkeys(tokens) if t in self.terms]
        if not cols or not self.n_alive:
            return []
        scores = np.zeros(len(self.ids), dtype=np.float32)
        indptr, indices, data = self.counts.indptr, self.counts.indices, self.counts.data
        norm = K1 * (1 - B + B * self.lengths / self.avg_length)
        for col in cols:
            rows = indices[indptr[col] : indptr[col + 1]]
            tf = data[indptr[col] : indptr[col + 1]]
            live = self.alive[rows]
            rows, tf = rows[live], tf[live]
            df = len(rows)
            if not df:
                continue
            idf = np.log(1 + (self.n_alive - df + 0.5) / (df + 0.5))
            scores[rows] += idf * tf / (tf + norm[rows])
        if mask is not None:
            scores *= mask
        hits = np.flatnonzero(scores > 0)
        if len(hits) > k:
            hits = hits[np.argpartition(-scores[hits], k - 1)[:k]]
        hits = hits[np.lexsort((hits, -scores[hits]))]
        return [(self.ids[i], float(scores[i])) for i in hits]

    def save(self, path: Path) -> None:
        """Write the index to ``path`` atomically (a temporary file, then a rename)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".bm25-", suffix=".npz")
        terms = sorted(self.terms, key=self.terms.__getitem__)
        header = {"generation": self.generation, "version": self.version, "seq": self.seq, "removed_seq": self.removed_seq}
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(
                    f,
                    header=np.array(json.dumps(header)),
                    ids=np.array(self.ids, dtype=str),
                    row_seq=self.row_seq,
                    days=self.days,
                    sources=np.array(self.sources.tolist(), dtype=str),
                    lengths=self.lengths,
                    alive=self.alive,
                    terms=np.array(terms, dtype=str),
                    indptr=self.counts.indptr,
                    indices=self.counts.indices,
                    data=self.counts.data,
                )
            os.replace(tmp, path)
            self.applied_since_snapshot = 0
        except OSError as exc:
            # A read-only or full cache is not fatal: the index lives in memory.
            log.warning("Could not save the keyword index snapshot %s: %s", path, exc)
            Path(tmp).unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path) -> _Postings | None:
        """The index saved at ``path``, or None if there is none or it cannot be read."""
        try:
            with np.load(path, allow_pickle=False) as z:
                header = json.loads(str(z["header"]))
                out = cls(header["generation"])
                out.version, out.seq, out.removed_seq = header["version"], header["seq"], header["removed_seq"]
                out.ids = z["ids"].tolist()
                out.row_seq, out.days, out.lengths, out.alive = z["row_seq"], z["days"], z["lengths"], z["alive"]
                out.sources = z["sources"].astype(object)
                out.terms = {t: i for i, t in enumerate(z["terms"].tolist())}
                out.counts = sp.csc_matrix(
                    (z["data"], z["indices"], z["indptr"]), shape=(len(out.ids), len(out.terms))
                )
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
            if path.exists():
                log.warning("Ignoring the unreadable keyword index snapshot %s: %s", path, exc)
            return None
        out._row_of = {int(s): i for i, s in enumerate(out.row_seq) if out.alive[i]}
        out._refresh_stats()
        return out


class BM25Index:
    """Keyword search over one corpus, kept in step with the store."""

    def __init__(self, store: ChunkStore) -> None:
        """Search ``store``'s corpus through its keyword log; the snapshot is saved beside it."""
        self.store = store
        self.log = store.keywords()
        self.snapshot_path = self.log.path.with_suffix(".npz")
        # The whole-index cache of earlier versions (a directory per corpus) is never read again.
        shutil.rmtree(self.log.path.with_suffix(""), ignore_errors=True)
        self._index: _Postings | None = None
        self._lock = threading.Lock()
        self._rebuilding: threading.Thread | None = None
        self._mismatch: tuple[str, float] | None = None  # a store version the log lacks, first seen when

    def search(self, query: str, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        """Top ``k`` chunk ids with BM25 scores (> 0), honouring the filters."""
        index = self._current()
        tokens = tokenize([query])[0]
        if not tokens:
            return []
        mask = _mask(index, filters) if filters is not None and not filters.is_empty() else None
        if mask is not None and not mask.any():
            return []
        return index.search(tokens, k, mask)

    def _current(self) -> _Postings:
        version = self.store.version()
        with self._lock:
            if self._index is None:
                self._index = _Postings.load(self.snapshot_path)
            if self._index is not None and self._index.version == version:
                return self._index
            state = self.log.state()
            if state.version != version:
                if self._index is None:
                    self._rebuild(version)  # nothing to answer with meanwhile
                elif self._stale(state, version):
                    # A writer stamps the log in the same call as its write: a mismatch
                    # that lasts is a log to rebuild. Meanwhile the index answers as it is.
                    self._rebuild_in_background(version)
            return self._catch_up()

    def _stale(self, state: LogState, version: str) -> bool:
        now = time.time()
        if self._mismatch is None or self._mismatch[0] != version:
            self._mismatch = (version, now)  # a new version: the clock starts now, not at the last stamp
        if state.writing_since is not None and now - state.writing_since < WRITER_GONE_S:
            return False  # a write under way; it records itself when it ends
        return now - max(state.stamped_at, self._mismatch[1]) >= STALE_AFTER_S

    def _catch_up(self) -> _Postings:
        index = self._index
        added, gone, state = self.log.changes(index.seq, index.removed_seq) if index else self.log.changes(0, 0)
        if index is None or index.generation != state.generation:
            index = _Postings(state.generation)
            added, gone, state = self.log.changes(0, 0)
        index.add(added)
        index.remove(gone)
        index.seq, index.removed_seq, index.version = max(index.seq, state.seq), state.removed_seq, state.version
        self._index = index
        if index.applied_since_snapshot >= _SNAPSHOT_EVERY:
            index.save(self.snapshot_path)
        return index

    def _rebuild(self, version: str) -> None:
        started = time.perf_counter()
        self.log.replace((KeywordRow.from_meta(cid, text, meta) for cid, text, meta in self.store.iter_chunks()), version)
        log.info("Rebuilt the keyword log of %s in %.1f s", self.store.settings.corpus, time.perf_counter() - started)

    def _rebuild_in_background(self, version: str) -> None:
        if self._rebuilding is not None and self._rebuilding.is_alive():
            return

        def run() -> None:
            try:
                self._rebuild(version)
            except Exception:  # a failed rebuild leaves the previous index answering
                log.exception("Rebuilding the keyword log of %s failed", self.store.settings.corpus)

        self._rebuilding = threading.Thread(target=run, name="bm25-rebuild", daemon=True)
        self._rebuilding.start()

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a background rebuild, if one is running (tests, benchmarks)."""
        if self._rebuilding is not None:
            self._rebuilding.join(timeout)


def _mask(index: _Postings, filters: Filters) -> np.ndarray:
    mask = np.ones(len(index.ids), dtype=bool)
    if filters.date_from is not None:
        mask &= index.days >= filters.date_from.toordinal()
    if filters.date_to is not None:
        mask &= (index.days <= filters.date_to.toordinal()) & (index.days > 0)
    if filters.sources:
        mask &= np.isin(index.sources, list(filters.sources))
    return mask.astype(np.float32)
