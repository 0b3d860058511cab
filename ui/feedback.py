"""Thumbs up/down and comments on answers, kept in SQLite, exportable as gold candidates.

One row per rated answer. A rating and a comment on the same answer update the
same row (the row id travels with the answer in the chat and the /embed page).
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import BackendUnavailable

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    corpus TEXT NOT NULL,
    question TEXT NOT NULL,
    answer TEXT NOT NULL,
    status TEXT NOT NULL,
    generator TEXT NOT NULL,
    sources TEXT NOT NULL,
    rating INTEGER NOT NULL DEFAULT 0,
    comment TEXT NOT NULL DEFAULT '',
    owner TEXT NOT NULL DEFAULT ''
)
"""
_MARKER = re.compile(r"\s*\[\d+\]")


@dataclass(frozen=True)
class Feedback:
    """One stored rating; ``rating`` is 1 (up), -1 (down) or 0 (comment only)."""

    id: int
    created: float
    corpus: str
    question: str
    answer: str
    status: str
    generator: str
    sources: list[str]
    rating: int
    comment: str


class FeedbackStore:
    """The SQLite file of feedback; safe to share between threads and processes."""

    def __init__(self, path: Path) -> None:
        """Create the file and table if needed.

        A file that is not a readable database leaves the store *broken*: the server starts
        and answers, and every feedback call says what is wrong (people's ratings cannot be
        rebuilt from anything, so the file is never replaced; a crash at start would only
        make a supervisor restart the server in a loop).
        """
        self.path = path
        self.broken: str | None = None
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with closing(sqlite3.connect(self.path, timeout=10)) as db, db:
                # WAL (kept by the file) lets the server write while `rag feedback` reads.
                db.execute("PRAGMA journal_mode=WAL")
                db.execute(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise
            self.broken = (f"The feedback database {path} cannot be read ({exc}): feedback is off until it is "
                           "repaired or moved aside, or feedback_db names another file")
            log.error(self.broken)

    def _connect(self) -> sqlite3.Connection:
        if self.broken:
            raise BackendUnavailable(self.broken)
        # A connection per call: sqlite3 connections must not cross threads.
        return sqlite3.connect(self.path, timeout=10)

    def record(
        self,
        *,
        corpus: str,
        question: str,
        answer: str,
        status: str,
        generator: str,
        sources: list[str],
        rating: int | None = None,
        comment: str | None = None,
        feedback_id: int | None = None,
        owner: str = "",
    ) -> int:
        """Store a rating and/or comment; with ``feedback_id``, update that row if ``owner`` (who
        wrote it: an API key's label, an embed token, a chat session) wrote it, else add a row.
        None leaves a field as it was; rating 0 takes a thumb back. Returns the row id."""
        if rating not in (None, -1, 0, 1):
            raise ValueError("rating must be 1, -1 or 0")
        comment = None if comment is None else comment.strip()[:2000]
        with closing(self._connect()) as db, db:
            if feedback_id is not None:
                # One statement, so a rating and a comment arriving together both land.
                cur = db.execute(
                    "UPDATE feedback SET rating = COALESCE(?, rating), comment = COALESCE(?, comment)"
                    " WHERE id = ? AND owner = ?",
                    (rating, comment, feedback_id, owner),
                )
                if cur.rowcount:
                    return feedback_id
            cur = db.execute(
                "INSERT INTO feedback (created, corpus, question, answer, status, generator, sources, rating, comment,"
                " owner) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (time.time(), corpus, question[:4000], answer[:20000], status, generator,
                 json.dumps(sources), rating or 0, comment or "", owner),
            )
            return int(cur.lastrowid or 0)

    def list(self, limit: int | None = 50, rating: int | None = None) -> list[Feedback]:
        """The newest feedback first (``limit`` None: all), optionally only one rating."""
        query = "SELECT * FROM feedback"
        args: list[Any] = []
        if rating is not None:
            query += " WHERE rating = ?"
            args.append(rating)
        query += " ORDER BY id DESC LIMIT ?"
        args.append(-1 if limit is None else limit)  # SQLite: a negative limit is none
        with closing(self._connect()) as db:
            rows = db.execute(query, args).fetchall()
        return [Feedback(*row[:7], json.loads(row[7]), row[8], row[9]) for row in rows]  # type: ignore[arg-type]

    def export_gold(self, path: Path) -> int:
        """Write approved answers as gold-set candidates (the ``rag eval`` JSONL schema).

        Thumbs-up answers become answerable questions whose gold answer is the
        answer text without markers (a reviewer shortens it); thumbs-up refusals
        become unanswerable questions. Thumbs-down rows have no trustworthy
        answer and are left to ``rag feedback --rating down``. Returns the count.
        """
        count = 0
        with path.open("w", encoding="utf-8") as out:
            for fb in reversed(self.list(limit=None, rating=1)):
                if fb.status == "answered":
                    record: dict[str, Any] = {"answer": _MARKER.sub("", fb.answer).strip(), "answerable": True}
                else:
                    record = {"answerable": False}  # a gold set's unanswerable questions need no answer
                record = {"id": f"feedback-{fb.id}", "question": fb.question, **record,
                          "gold_urls": fb.sources, "question_date": time.strftime("%Y-%m-%d", time.gmtime(fb.created)),
                          "comment": fb.comment, "corpus": fb.corpus}
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
                count += 1
        return count
