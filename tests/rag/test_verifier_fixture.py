"""The offline judge's precision and recall on the labelled (claim, passage)
fixture built from the dev corpus (evals/make_verifier_fixture.py), plus 12
hand-written paraphrases and subtle errors."""

from __future__ import annotations

import json
from pathlib import Path

from evals.judge import OfflineJudge, agreement

FIXTURE = Path(__file__).resolve().parents[2] / "evals" / "verifier_pairs.jsonl"


def test_fixture_is_balanced_and_large_enough() -> None:
    pairs = [json.loads(line) for line in FIXTURE.open()]
    assert len(pairs) >= 60
    assert sum(p["supported"] for p in pairs) == len(pairs) // 2


def test_offline_judge_precision_and_recall(capsys) -> None:  # type: ignore[no-untyped-def]
    fit = agreement(OfflineJudge(), FIXTURE)
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
