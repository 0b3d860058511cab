"""contains_answer forgives number spelling and simple inflections, and nothing else."""

from __future__ import annotations

import json

import pytest

from evals.metrics import contains_answer, normalize_answer
from tests.conftest import needs_shared_data


def strict_contains(text: str, answer: str) -> bool:
    """The old rule, kept here as the baseline: the SQuAD-normalized answer as a whole-word substring."""
    needle = normalize_answer(answer)
    return bool(needle) and f" {needle} " in f" {normalize_answer(text)} "


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("They extended the program by six months.", "6"),
        ("It lasts 6 months.", "six"),
        ("twenty-five people came", "25"),
        ("1,000 people came", "1000"),
        ("1000 people came", "1,000"),
        ("two hundred five thousand three hundred", "205,300"),
        ("a $60 billion deal", "sixty billion"),
        ("a 60 billion deal", "$60 billion"),
        ("Saudi Arabian officials said", "Saudi Arabia"),
        ("Indian voters", "India"),
        ("Saudi Arabia's oil", "Saudi Arabia"),
        ("nuggets", "nugget"),
        ("a new chicken nugget", "Chicken nuggets"),
        ("three new cities", "city"),
    ],
)
def test_matches_right_answers(text: str, answer: str) -> None:
    assert contains_answer(text, answer)


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("for 60 days", "6"),
        ("for 6.5 million", "6"),  # a decimal is one number, not "6" then "5"
        ("1,000 people", "1"),
        ("twenty people", "2"),
        ("someone said", "one"),
        ("Austria", "Australia"),
        ("Australia", "Austria"),
        ("Indiana", "India"),
        ("Iran", "Iraq"),
        ("the 1990s", "1990"),  # numbers take no suffix
        ("nearly one of every three stations", "$3"),  # money is written in digits
        ("Mar-a-Lago", "Mars"),  # too short to inflect
        ("chicken and nuggets", "Chicken nuggets"),  # a contiguous run of words
        ("nuggets of chicken", "Chicken nuggets"),
        ("chickenpox", "Chicken"),  # whole words only
        ("chickens nuggets", "Chicken nuggets"),  # only the last word may be inflected
        ("Indian", "india"),  # demonyms only for capitalized names
        ("anything", ""),
    ],
)
def test_rejects_wrong_answers(text: str, answer: str) -> None:
    assert not contains_answer(text, answer)


@pytest.mark.corpus
def test_real_quiz_no_wrong_choice_newly_matches() -> None:
    """On the quiz's evidence sentences, no wrong choice matches that did not before, and gold matches grow."""
    path = needs_shared_data() / "realtimeqa-2022-small" / "qa.jsonl"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    questions = [q for q in map(json.loads, path.open()) if q["evidence"]]
    assert questions
    newly_matched = [
        (q["id"], c)
        for q in questions
        for c in q["choices"]
        if normalize_answer(c) != normalize_answer(q["answer"])
        and contains_answer(q["evidence"], c)
        and not strict_contains(q["evidence"], c)
    ]
    assert not newly_matched, f"wrong choices newly matched: {newly_matched}"
    before = sum(strict_contains(q["evidence"], q["answer"]) for q in questions)
    after = sum(contains_answer(q["evidence"], q["answer"]) for q in questions)
    assert after >= before
