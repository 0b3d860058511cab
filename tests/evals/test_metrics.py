"""Every metric on small cases whose values are worked out by hand."""

from __future__ import annotations

import pytest

from evals.metrics import (
    answer_hit_at_k,
    answer_hit_within,
    bootstrap_ci,
    mean_ci,
    citation_scores,
    contains_answer,
    evidence_recall,
    exact_match,
    normalize_answer,
    percentile,
    precision_recall,
    reciprocal_rank,
    token_f1,
)


def test_normalization_and_contains() -> None:
    assert normalize_answer("The  Squid-Game!") == "squid game"
    assert contains_answer("Netflix renewed “Squid Game” today.", "squid game")
    assert not contains_answer("Eurozone rules", "Europe")  # word boundaries ("European" is its adjective: a match)
    assert not contains_answer("anything", "")


def test_exact_match_and_f1() -> None:
    assert exact_match("the Squid Game", ["Squid Game"])
    assert not exact_match("Squid Game season 2", ["Squid Game"])
    # pred tokens: squid game season 2 (4); gold: squid game (2); common 2 -> P=.5 R=1 F1=2/3
    assert token_f1("Squid Game season 2", ["Squid Game"]) == pytest.approx(2 / 3)
    assert token_f1("nothing here", ["Squid Game"]) == 0.0
    assert token_f1("Squid", ["Squid Game", "Squid"]) == 1.0


def test_hits_rr_and_budget() -> None:
    ranked = ["no", "still no", "Vienna is liveable", "Vienna again"]
    assert not answer_hit_at_k(ranked, ["Vienna"], 2) and answer_hit_at_k(ranked, ["Vienna"], 3)
    assert reciprocal_rank(ranked, ["Vienna"]) == pytest.approx(1 / 3)
    assert reciprocal_rank(ranked, ["Paris"]) == 0.0
    words = lambda t: t.split()  # noqa: E731 (one token per word)
    assert not answer_hit_within(ranked, ["Vienna"], 3, words)  # "no still no" fills 3 tokens
    assert answer_hit_within(ranked, ["Vienna"], 4, words)


def test_evidence_recall() -> None:
    assert evidence_recall(["https://a/1", "https://b/2/"], ["https://b/2", "https://c/3"]) == 0.5
    assert evidence_recall(["https://a/1"], []) is None


def _supports(claim: str, passage: str) -> bool:
    # Toy judge: every word of the claim occurs in the passage.
    return all(w in passage.split() for w in claim.split())


def test_alce_citation_recall_and_precision() -> None:
    sentences = [
        ("a b", ["a b x", "y"]),   # supported by [0]; [1] alone no, others ([0]) yes -> irrelevant
        ("a c", ["a", "c"]),       # only jointly: both citations relevant
        ("d", ["x"]),              # unsupported: recall 0, not in precision
        ("e", []),                 # no citation: recall 0
    ]
    s = citation_scores(sentences, _supports)
    assert s.sentences == 4
    assert s.recall == pytest.approx(2 / 4)
    assert s.precision == pytest.approx(3 / 4)  # 4 citations in recalled sentences, 1 irrelevant


def test_claim_free_answer_is_not_perfect() -> None:
    s = citation_scores([], _supports)
    assert (s.recall, s.precision) == (None, None)


def test_precision_recall() -> None:
    # predicted refusals vs truly unanswerable
    p, r = precision_recall([True, True, False, False], [True, False, True, False])
    assert (p, r) == (0.5, 0.5)
    assert precision_recall([False, False], [True, False]) == (None, 0.0)


def test_yes_no_metrics_get_wilson_intervals_that_never_collapse() -> None:
    mean, lo, hi = mean_ci([1.0] * 20)
    assert mean == 1.0 and hi == pytest.approx(1.0) and lo == pytest.approx(0.8389, abs=1e-4)
    assert mean_ci([0.0] * 5)[1:] == pytest.approx((0.0, 0.4345), abs=1e-4)
    assert mean_ci([0.5, 1.0]) == bootstrap_ci([0.5, 1.0])  # graded values keep the bootstrap


def test_bootstrap_is_deterministic_and_brackets_the_mean() -> None:
    values = [1.0] * 30 + [0.0] * 70
    mean, lo, hi = bootstrap_ci(values)
    assert mean == pytest.approx(0.3) and lo < 0.3 < hi
    assert (lo, hi) == bootstrap_ci(values)[1:]
    assert 0.19 < lo < 0.25 and 0.35 < hi < 0.41
    assert bootstrap_ci([1.0, 1.0]) == (1.0, 1.0, 1.0)


def test_summary_counts_refusals_and_claim_free_apart() -> None:
    from evals.run import QuestionResult, summarize

    def result(qid: str, answerable: bool, refused: bool, **metrics: float) -> QuestionResult:
        return QuestionResult(id=qid, question="q", answers=["a"], answerable=answerable, answer={},
                              metrics={"refused": float(refused), **metrics})

    results = [
        result("1", True, False, contains_gold=1.0, citation_recall=1.0),
        result("2", True, True, contains_gold=0.0),
        result("3", False, True),
        result("4", False, False, citation_recall=0.0),
        QuestionResult(id="5", question="q", answers=["a"], answerable=True, answer={},
                       metrics={"refused": 0.0, "contains_gold": 0.0}, claim_free=True),
    ]
    s = summarize(results)
    assert s["refusal"]["precision"] == 0.5 and s["refusal"]["recall"] == 0.5
    assert s["refusal"]["false_refusal_rate"] == pytest.approx(1 / 3)
    assert s["refusal"]["recall_ci95"] == pytest.approx([0.0945, 0.9055], abs=1e-4)  # Wilson, 1 of 2
    assert s["claim_free_answers"] == 1
    # Only answered, claim-bearing, answerable questions enter the 2x2 table.
    assert s["correct_x_grounded"] == {"correct_grounded": 1, "correct_ungrounded": 0,
                                       "incorrect_grounded": 0, "incorrect_ungrounded": 0}
    assert s["metrics"]["citation_recall"]["mean"] == 0.5  # an empty answer never scores 1.0 by default


def test_percentile_interpolates() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 0.5) == 2.5  # between 2 and 3
    assert percentile([0.0, 10.0, 20.0, 30.0, 40.0], 0.95) == pytest.approx(38.0)  # 3.8 of 4 steps


def test_summary_splits_answerable_questions_by_whether_their_source_is_indexed() -> None:
    from evals.report import markdown
    from evals.run import QuestionResult, summarize

    def result(qid: str, indexed: float | None, hit: float, refused: bool = False) -> QuestionResult:
        metrics = {"refused": float(refused), "within_2048": hit, "contains_gold": hit}
        if indexed is not None:
            metrics["source_indexed"] = indexed
        return QuestionResult(id=qid, question="q", answers=["a"], answerable=True, answer={}, metrics=metrics)

    results = [result("1", 1.0, 1.0), result("2", 1.0, 0.0, refused=True), result("3", 0.0, 0.0),
               result("4", None, 1.0),
               QuestionResult(id="5", question="q", answers=[], answerable=False, answer={}, metrics={"refused": 1.0})]
    s = summarize(results)
    assert s["by_source"]["source_indexed"] == {"n": 2, "within_2048": 0.5, "contains_gold": 0.5, "refused": 0.5}
    assert s["by_source"]["source_missing"]["n"] == 1 and s["by_source"]["source_missing"]["within_2048"] == 0
    assert s["by_source"]["source_unknown"]["n"] == 1  # no gold URL: the unanswerable question is not counted
    md = markdown(s, {})
    assert "| source article in the corpus | 2 | n/a | n/a | 0.500 | 0.500 | 0.500 |" in md
    # A gold set that names no sources gets no split.
    assert summarize([result("4", None, 1.0)])["by_source"] == {}
