"""The support judges on the labelled (claim, passage) fixtures.

``evals/verifier_pairs.jsonl``: 84 pairs built from the dev corpus
(evals/make_verifier_fixture.py), plus hand-written paraphrases and subtle errors.
``evals/support_pairs.jsonl``: 610 hand-labelled pairs written the way LLMs answer
(paraphrase, summary, joined facts, hedges) and err (swapped roles, misattributed
numbers, reversed polarity, wrong time or place, said-vs-did, other articles,
additions). The floors below are the measured figures less a small margin: a
change that loses ground fails here (README "Verification" has the table).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.judge import OfflineJudge, agreement

EVALS = Path(__file__).resolve().parents[2] / "evals"
FIXTURE = EVALS / "verifier_pairs.jsonl"
PAIRS = EVALS / "support_pairs.jsonl"
SUPPORTED = ("paraphrase", "summary", "joined", "hedged", "verbatim")


def test_fixture_is_balanced_and_large_enough() -> None:
    pairs = [json.loads(line) for line in FIXTURE.open()]
    assert len(pairs) >= 60
    assert sum(p["supported"] for p in pairs) == len(pairs) // 2


def test_offline_judge_precision_and_recall(capsys) -> None:  # type: ignore[no-untyped-def]
    fit = agreement(OfflineJudge("lexical"), FIXTURE)
    precision, recall, kinds = fit["precision"], fit["recall"], fit["per_kind"]
    with capsys.disabled():
        print(f"\nLexicalJudge on {FIXTURE.name}: precision {precision:.3f}, recall {recall:.3f}; "
              f"correct per kind {kinds}")
    assert precision >= 0.85
    assert recall >= 0.9
    # Wrong numbers, swapped names and unrelated claims are all caught.
    for kind in ("number", "name", "unrelated", "same_article"):
        done, total = kinds[kind].split("/")
        assert done == total, kind


def test_support_fixture_is_large_and_labelled() -> None:
    lines = PAIRS.read_text().splitlines()
    assert "about" in json.loads(lines[0])  # how it was made
    pairs = [json.loads(line) for line in lines[1:]]
    assert len(pairs) >= 300
    assert sum(p["kind"] == "paraphrase" for p in pairs) >= 60
    assert sum(not p["supported"] for p in pairs) >= 120
    assert all(p["supported"] == (p["kind"] in SUPPORTED) for p in pairs)


def _rates(kinds: dict[str, str]) -> tuple[float, float, dict[str, float]]:
    got = {k: tuple(int(x) for x in v.split("/")) for k, v in kinds.items()}
    kept = sum(got[k][0] for k in got if k in SUPPORTED) / sum(got[k][1] for k in got if k in SUPPORTED)
    caught = sum(got[k][0] for k in got if k not in SUPPORTED) / sum(got[k][1] for k in got if k not in SUPPORTED)
    return kept, caught, {k: a / b for k, (a, b) in got.items()}


@pytest.mark.slow
def test_relation_judge_on_the_support_fixture(capsys) -> None:  # type: ignore[no-untyped-def]
    lexical = agreement(OfflineJudge("lexical"), PAIRS)
    relations = agreement(OfflineJudge("relations"), PAIRS)
    lex_kept, lex_caught, _ = _rates(lexical["per_kind"])
    kept, caught, per_kind = _rates(relations["per_kind"])
    with capsys.disabled():
        print(f"\nlexical: kept {lex_kept:.3f}, caught {lex_caught:.3f}; relations: kept {kept:.3f}, "
              f"caught {caught:.3f}; per kind {relations['per_kind']}")
    # Measured: lexical kept 0.900 / caught 0.530; relations kept 0.887 / caught 0.673.
    assert kept >= 0.86 and caught >= 0.65
    assert caught - lex_caught >= 0.12  # the relation checks earn their place
    floors = {"swapped_roles": 0.45, "polarity": 0.45, "said_vs_did": 0.6, "wrong_number": 0.6,
              "wrong_time": 0.8, "wrong_place": 0.75, "other_article": 0.95, "unsupported_addition": 0.6,
              "paraphrase": 0.85, "hedged": 0.85, "verbatim": 1.0}
    for kind, floor in floors.items():
        assert per_kind[kind] >= floor, (kind, per_kind[kind])
