"""Gold question sets (JSONL, the schema of ../shared/data/README.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from pathlib import Path

from rag.errors import InputError


@dataclass(frozen=True)
class GoldQuestion:
    """One gold question with its answer(s) and evidence."""

    id: str
    question: str
    answer: str
    answerable: bool = True
    aliases: tuple[str, ...] = ()
    evidence: str = ""
    gold_urls: tuple[str, ...] = field(default_factory=tuple)
    question_date: str | None = None
    answer_in_source: bool | None = None
    """True when the answer stands in one of the question's own articles; False when it is
    answerable by coincidence only (the answer string stands in some unrelated article)."""
    kind: str = ""
    """A fixture's label for the question ("near_miss", "twin"), if any."""

    @property
    def answers(self) -> tuple[str, ...]:
        """The answer and its aliases (none for an unanswerable question given without one)."""
        return tuple(a for a in (self.answer, *self.aliases) if a.strip())

    @property
    def reference_date(self) -> date | None:
        """The day the question was asked: the engine's reference date for "this week"."""
        return date.fromisoformat(self.question_date) if self.question_date else None


def sample_gold() -> Path:
    """The bundled gold questions about the bundled sample article."""
    return Path(str(resources.files("evals") / "sample_gold.jsonl"))


def load_gold(path: Path | str) -> list[GoldQuestion]:
    """Read a gold set; every bad record is reported (file and line) in one :class:`InputError`."""
    out: list[GoldQuestion] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError:
        raise InputError(path, "not UTF-8") from None
    except OSError as exc:
        raise InputError(path, f"cannot read: {exc.strerror or exc}") from None
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            q = _record(line)
        except ValueError as exc:
            problems.append(f"{path}:{lineno}: {exc}")
            continue
        if q.id in seen:
            problems.append(f"{path}:{lineno}: id {q.id!r} repeats line {seen[q.id]}")
            continue
        seen[q.id] = lineno
        out.append(q)
    if problems:
        raise InputError(path, f"{len(problems)} bad record(s):\n" + "\n".join(problems))
    if not out:
        raise InputError(path, "no questions")
    return out


def _record(line: str) -> GoldQuestion:
    try:
        rec = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"malformed JSON: {exc.msg} at column {exc.colno}") from None
    if not isinstance(rec, dict):
        raise ValueError("expected a JSON object")
    if "answerable" in rec and not isinstance(rec["answerable"], bool):
        raise ValueError("field 'answerable' must be true or false")
    answerable = rec.get("answerable", True)
    # An unanswerable question may come without an answer (SQuAD 2.0 style sets).
    required = ("question", "answer") if answerable else ("question",)
    for key in required:
        if not isinstance(rec.get(key), str) or not rec[key].strip():
            raise ValueError(f"field '{key}' must be a non-empty string")
    if not isinstance(rec.get("answer") or "", str):
        raise ValueError("field 'answer' must be a string")
    if rec.get("answer_in_source") is not None and not isinstance(rec["answer_in_source"], bool):
        raise ValueError("field 'answer_in_source' must be true or false")
    for key in ("aliases", "gold_urls"):
        value = rec.get(key)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise ValueError(f"field '{key}' must be a list of strings")
    qdate = rec.get("question_date") or None
    if qdate is not None:
        # A timestamp ("2022-06-17T09:00:00Z") dates the question by its day.
        qdate = str(qdate)[:10]
        try:
            date.fromisoformat(qdate)
        except ValueError:
            raise ValueError(f"question_date {rec['question_date']!r} is not YYYY-MM-DD") from None
    if "id" not in rec:
        raise ValueError("field 'id' is missing")
    return GoldQuestion(
        id=str(rec["id"]),
        question=rec["question"],
        answer=rec.get("answer") or "",
        answerable=answerable,
        aliases=tuple(rec.get("aliases") or ()),
        evidence=rec.get("evidence") or "",
        gold_urls=tuple(rec.get("gold_urls") or ()),
        question_date=qdate,
        answer_in_source=rec.get("answer_in_source"),
        kind=str(rec.get("kind") or ""),
    )
