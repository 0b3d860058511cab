"""The keyword log: every chunk's search tokens in a SQLite file beside the store.

Written by :class:`rag.store.ChunkStore` in the same call as each change to the
store, and stamped with the store version it matches; :mod:`rag.bm25` reads from it
only the rows added and removed since it last looked, so one new article costs a
searcher milliseconds instead of a rebuild of the corpus's keyword index. A log
that is behind the store (a replica with another data dir wrote, or the corpus is
older than the log) is rebuilt from the store by :meth:`KeywordLog.replace`.
"""

from __future__ import annotations

import logging
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import bm25s
import Stemmer

log = logging.getLogger(__name__)
_STEMMER = Stemmer.Stemmer("english")


def tokenize(texts: Sequence[str]) -> list[list[str]]:
    """Stemmed, lower-cased tokens without English stop words, one list per text."""
    if not texts:
        return []
    out = bm25s.tokenize(list(texts), stopwords="en", stemmer=_STEMMER, return_ids=False, show_progress=False)
    return [list(t) for t in out]


@dataclass(frozen=True)
class KeywordRow:
    """One chunk as the keyword index needs it."""

    id: str
    text: str
    day: int  # published day ordinal, 0 if undated
    source: str

    @classmethod
    def from_meta(cls, cid: str, text: str, meta: dict[str, Any]) -> KeywordRow:
        """The row of a chunk stored with ``meta``."""
        return cls(cid, text, int(meta.get("published_day") or 0), str(meta.get("source") or ""))


@dataclass(frozen=True)
class LogState:
    """Where the log stands: its generation (new at each rebuild), the store version it
    matches, when that was written, and its highest row and removal sequence numbers."""

    generation: str
    version: str | None
    stamped_at: float
    seq: int
    removed_seq: int
    writing_since: float | None = None
    """When a writer said it began a change it has not yet recorded (None: none under way)."""


class KeywordLog:
    """The SQLite file of a corpus's chunk tokens, with a log of removals."""

    def __init__(self, path: Path) -> None:
        """``path`` is the SQLite file; it is created on first use."""
        self.path = path

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            return self._open()
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError):
                raise  # locked, disk full: not the file's fault
            # A corrupt log is derived data: set it aside, and the next searcher rebuilds it.
            log.warning("The keyword log %s is unreadable (%s): moved aside, it will be rebuilt", self.path, exc)
            for suffix in ("", "-wal", "-shm"):
                part = Path(f"{self.path}{suffix}")
                if part.exists():
                    part.replace(f"{part}.corrupt")
            return self._open()

    def _open(self) -> sqlite3.Connection:
        # A rebuild holds the write lock for a few seconds; writers wait for it.
        db = sqlite3.connect(self.path, timeout=120, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.executescript(
            """
            CREATE TABLE IF NOT EXISTS chunks(
                seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL,
                day INTEGER NOT NULL, source TEXT NOT NULL, tokens TEXT NOT NULL);
            CREATE INDEX IF NOT EXISTS chunks_id ON chunks(id);
            CREATE TABLE IF NOT EXISTS removed(
                seq INTEGER PRIMARY KEY AUTOINCREMENT, chunk_seq INTEGER NOT NULL);
            CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
            """
        )
        return db

    def state(self) -> LogState:
        """The log's generation, matching store version and high-water marks."""
        with closing(self._connect()) as db:
            return _state(db)

    def begin_write(self) -> None:
        """Note that a change to the store is under way: until :meth:`apply` records it, the
        store's newer version is a write in progress, not a log left behind."""
        with closing(self._connect()) as db:
            db.execute("INSERT OR REPLACE INTO meta VALUES ('writing_since', ?)", (repr(time.time()),))

    def apply(
        self, rows: Sequence[KeywordRow], removed: Iterable[str], *, expected: str, version: str
    ) -> None:
        """Record a write to the store: ``rows`` upserted, ``removed`` ids deleted.

        The log is stamped with ``version`` only if it matched ``expected``, the
        store's version before the write; otherwise it was already behind, stays
        so, and is rebuilt by the next searcher.
        """
        prepared = _prepared(rows)
        gone = list(dict.fromkeys([*(r.id for r in rows), *removed]))
        with self._writing() as db:
            in_step = _state(db).version == expected or (expected == "0" and _count(db) == 0)
            _remove(db, gone)
            db.executemany(_INSERT, prepared)
            db.execute("DELETE FROM meta WHERE key = 'writing_since'")
            if in_step:
                _stamp(db, version)

    def replace(self, rows: Iterable[KeywordRow], version: str, batch: int = 5000) -> None:
        """Rebuild the log from ``rows`` (every chunk of the store at ``version``).

        Rows are tokenized before the write lock is taken; readers see the old log
        until the new one is committed whole.
        """
        prepared: list[tuple[str, int, str, str]] = []
        chunk: list[KeywordRow] = []
        for row in rows:
            chunk.append(row)
            if len(chunk) >= batch:
                prepared += _prepared(chunk)
                chunk = []
        prepared += _prepared(chunk)
        with self._writing() as db:
            db.execute("DELETE FROM chunks")
            db.execute("DELETE FROM removed")
            db.executemany(_INSERT, prepared)
            db.execute("INSERT OR REPLACE INTO meta VALUES ('generation', ?)", (uuid.uuid4().hex,))
            db.execute("DELETE FROM meta WHERE key = 'writing_since'")  # a writer that died left it
            _stamp(db, version)

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed whole or rolled back."""
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    def changes(self, seq: int, removed_seq: int) -> tuple[list[tuple[int, str, int, str, str]], list[int], LogState]:
        """Rows added after ``seq`` and chunk seqs removed after ``removed_seq``, read in one
        snapshot, with the state they bring the reader to."""
        with closing(self._connect()) as db:
            db.execute("BEGIN")
            added = db.execute(
                "SELECT seq, id, day, source, tokens FROM chunks WHERE seq > ? ORDER BY seq", (seq,)
            ).fetchall()
            gone = [r[0] for r in db.execute("SELECT chunk_seq FROM removed WHERE seq > ?", (removed_seq,))]
            state = _state(db)
            db.execute("COMMIT")
        return added, gone, state


_INSERT = "INSERT INTO chunks(id, day, source, tokens) VALUES (?, ?, ?, ?)"


def _prepared(rows: Sequence[KeywordRow]) -> list[tuple[str, int, str, str]]:
    return [(r.id, r.day, r.source, " ".join(t)) for r, t in zip(rows, tokenize([r.text for r in rows]))]


def _state(db: sqlite3.Connection) -> LogState:
    meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    seq = db.execute("SELECT COALESCE(MAX(seq), 0) FROM chunks").fetchone()[0]
    removed = db.execute("SELECT COALESCE(MAX(seq), 0) FROM removed").fetchone()[0]
    return LogState(
        generation=meta.get("generation", ""),
        version=meta.get("version"),
        stamped_at=float(meta.get("stamped_at", 0)),
        seq=int(seq),
        removed_seq=int(removed),
        writing_since=float(meta["writing_since"]) if "writing_since" in meta else None,
    )


def _count(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])


def _stamp(db: sqlite3.Connection, version: str) -> None:
    db.execute("INSERT OR REPLACE INTO meta VALUES ('version', ?)", (version,))
    db.execute("INSERT OR REPLACE INTO meta VALUES ('stamped_at', ?)", (repr(time.time()),))


def _remove(db: sqlite3.Connection, ids: Sequence[str]) -> None:
    for i in range(0, len(ids), 500):
        part = ids[i : i + 500]
        marks = ",".join("?" * len(part))
        seqs = [r[0] for r in db.execute(f"SELECT seq FROM chunks WHERE id IN ({marks})", part)]
        if seqs:
            db.executemany("INSERT INTO removed(chunk_seq) VALUES (?)", [(s,) for s in seqs])
            db.execute(f"DELETE FROM chunks WHERE id IN ({marks})", part)
