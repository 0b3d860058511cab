"""Gold-set loading: valid records, and every bad record named by file and line."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from evals.gold import load_gold
from rag.errors import InputError

GOOD = {"id": "q1", "question": "Who?", "answer": "Ann", "aliases": ["Ann Lee"], "answerable": True,
        "gold_urls": ["https://a/1"], "question_date": "2022-06-16", "evidence": "Ann said."}


def test_loads_fields(tmp_path: Path) -> None:
    path = tmp_path / "g.jsonl"
    path.write_text(json.dumps(GOOD) + "\n\n" + json.dumps({"id": 2, "question": "Q?", "answer": "A",
                                                              "answerable": False}) + "\n")
    a, b = load_gold(path)
    assert a.answers == ("Ann", "Ann Lee") and a.question_date == "2022-06-16"
    assert a.reference_date == date(2022, 6, 16)
    assert b.id == "2" and not b.answerable and b.gold_urls == () and b.reference_date is None


def test_every_bad_record_is_named(tmp_path: Path) -> None:
    path = tmp_path / "g.jsonl"
    rows = [
        json.dumps(GOOD),
        "{oops",
        json.dumps({**GOOD, "id": "q2", "answer": ""}),
        json.dumps({**GOOD, "id": "q3", "answerable": "yes"}),
        json.dumps({**GOOD, "id": "q4", "question_date": "June 16"}),
        json.dumps({**GOOD, "id": "q5", "aliases": "Ann"}),
        json.dumps(GOOD),
        json.dumps({k: v for k, v in GOOD.items() if k != "id"}),
    ]
    path.write_text("\n".join(rows) + "\n")
    with pytest.raises(InputError) as info:
        load_gold(path)
    msg = str(info.value)
    for line, text in [(2, "malformed JSON"), (3, "'answer'"), (4, "'answerable'"), (5, "question_date"),
                       (6, "'aliases'"), (7, "repeats line 1"), (8, "'id'")]:
        assert f"{path}:{line}: " in msg and text in msg.split(f"{path}:{line}: ")[1].split("\n")[0]


def test_empty_and_missing(tmp_path: Path) -> None:
    (tmp_path / "e.jsonl").write_text("\n")
    with pytest.raises(InputError, match="no questions"):
        load_gold(tmp_path / "e.jsonl")
    with pytest.raises(InputError, match="cannot read"):
        load_gold(tmp_path / "missing.jsonl")


def test_unanswerable_questions_may_come_without_an_answer(tmp_path: Path) -> None:
    path = tmp_path / "g.jsonl"
    rows = [{"id": "u1", "question": "Who?", "answerable": False},
            {"id": "u2", "question": "Who?", "answer": "", "answerable": False, "question_date": "2022-06-16T09:00:00Z"},
            {"id": "u3", "question": "Who?", "answer": None, "answerable": False}]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    u1, u2, u3 = load_gold(path)
    assert u1.answers == () and u3.answers == () and not u1.answerable
    assert u2.reference_date == date(2022, 6, 16)
    path.write_text(json.dumps({"id": "a", "question": "Who?", "answer": 7, "answerable": False}) + "\n")
    with pytest.raises(InputError, match="'answer' must be a string"):
        load_gold(path)
