"""Gold question sets (JSONL, the schema of ../shared/data/README.md)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
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

    @property
    def answers(self) -> tuple[str, ...]:
        """The answer and its aliases."""
        return (self.answer, *self.aliases)


def load_gold(path: Path | str) -> list[GoldQuestion]:
    """Read a gold set; a bad record raises :class:`InputError` naming file and line."""
    out: list[GoldQuestion] = []
    with Path(path).open(encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(path, f"malformed JSON: {exc.msg}", line=lineno) from None
            if not isinstance(rec, dict):
                raise InputError(path, "expected a JSON object", line=lineno)
            for key in ("question", "answer"):
                if not isinstance(rec.get(key), str) or not rec[key].strip():
                    raise InputError(path, f"field '{key}' must be a non-empty string", line=lineno)
            out.append(
                GoldQuestion(
                    id=str(rec.get("id", lineno)),
                    question=rec["question"],
                    answer=rec["answer"],
                    answerable=bool(rec.get("answerable", True)),
                    aliases=tuple(rec.get("aliases") or ()),
                    evidence=rec.get("evidence") or "",
                    gold_urls=tuple(rec.get("gold_urls") or ()),
                    question_date=rec.get("question_date") or None,
                )
            )
    return out
