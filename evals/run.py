"""Run a gold set through the same ``Engine.ask`` the chat uses, and score it.

Per question: retrieval on text (answer-hit@k, within token budgets, reciprocal
rank) and evidence recall (gold URLs among retrieved articles); correctness
(contains gold, exact match, token F1; a refusal scores 0); groundedness (ALCE
citation recall/precision by a support judge, and the share of generated
sentences that survived verification); refusal. Answers with no claim are
counted apart and never scored as perfect.

Where the gold set names each question's source article (``gold_urls``), the
main figures are also split by whether that article is in the corpus: a gold
answer string found only in other articles is often a coincidence ("10%",
"Europe"), so the split tells retrieval failures from gaps in the corpus.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from evals.gold import GoldQuestion
from evals.metrics import (
    Supports,
    citation_scores,
    contains_answer,
    evidence_recall,
    exact_match,
    mean_ci,
    percentile,
    precision_recall,
    reciprocal_rank,
    token_f1,
    url_key,
)
from evals.retrieval import BUDGETS, KS, retrieval_hits
from rag.pipeline import Engine
from rag.store import ChunkStore
from rag.tokens import cl100k
from rag.types import Answer, Filters
from rag.verify import strip_as_of

RETRIEVAL_DEPTH = 40


@dataclass
class QuestionResult:
    """Everything measured for one gold question."""

    id: str
    question: str
    answers: list[str]
    answerable: bool
    answer: dict[str, Any]
    metrics: dict[str, float | None] = field(default_factory=dict)
    claim_free: bool = False
    seconds: float = 0.0
    group: str = ""
    """Which kind of question this is (:data:`ANSWERABILITY_GROUPS`)."""


def run(
    questions: Sequence[GoldQuestion],
    engine: Engine,
    supports: Supports,
    *,
    progress: Callable[[int], None] | None = None,
) -> list[QuestionResult]:
    """Ask and score every question (``question_date`` is the reference date)."""
    tokens = cl100k()
    has_source = sources_indexed(questions, engine.store)
    out = []
    for q in questions:
        filters = Filters(reference_date=q.reference_date)
        started = time.perf_counter()
        answer = engine.ask(q.question, filters=filters)
        seconds = time.perf_counter() - started
        ranked = engine.search(q.question, filters, k=RETRIEVAL_DEPTH)
        result = _score(q, answer, [p.text for p in ranked], [p.url for p in ranked], supports, tokens, seconds)
        result.group = answerability_group(q)
        if q.answerable:
            # What the answer step was given: the first top_k of the same ranking.
            given = [p.text for p in ranked[: engine.settings.top_k]]
            result.metrics["passages_hold"] = float(any(contains_answer(t, a) for t in given for a in q.answers))
        if q.answerable and has_source[q.id] is not None:
            result.metrics["source_indexed"] = float(has_source[q.id])
        out.append(result)
        if progress:
            progress(1)
    return out


def sources_indexed(questions: Sequence[GoldQuestion], store: ChunkStore) -> dict[str, bool | None]:
    """Per question id: is its source article (a gold URL) in the corpus? None when the gold names none."""
    indexed = {url_key(str(m["url"])) for m in store.first_chunks() if m.get("url")}
    return {q.id: any(url_key(u) in indexed for u in q.gold_urls) if q.gold_urls else None for q in questions}


# Questions by whether the articles answer them (key, label), in the order reports show them.
ANSWERABILITY_GROUPS: tuple[tuple[str, str], ...] = (
    ("own_source", "answer in the question's own article"),
    ("coincidental", "answerable by coincidence only"),
    ("answerable", "answerable (no source label)"),
    ("unanswerable", "unanswerable"),
    ("near_miss", "near miss (topic covered, answer not stated)"),
)


def answerability_group(q: GoldQuestion) -> str:
    """The question's group: headline figures are on ``own_source``; coincidental matches
    (the answer string only in unrelated articles) are reported apart."""
    if not q.answerable:
        return "near_miss" if q.kind == "near_miss" else "unanswerable"
    if q.answer_in_source is None:
        return "answerable"
    return "own_source" if q.answer_in_source else "coincidental"


# The groups of answerable questions by source: summary key, sources_indexed value, label.
SOURCE_GROUPS: tuple[tuple[str, bool | None, str], ...] = (
    ("source_indexed", True, "source article in the corpus"),
    ("source_missing", False, "source article not in the corpus"),
    ("source_unknown", None, "no source named"),
)


def _score(
    q: GoldQuestion,
    answer: Answer,
    ranked: list[str],
    urls: list[str],
    supports: Supports,
    tokens: Callable[[str], list[int]],
    seconds: float,
) -> QuestionResult:
    m: dict[str, float | None] = {}
    answers = list(q.answers)
    if q.answerable:
        m.update(retrieval_hits(ranked, answers, tokens))
        m["mrr"] = reciprocal_rank(ranked, answers)
        m["evidence_recall"] = evidence_recall(urls, q.gold_urls)
        text = "" if answer.refused else answer.text
        m["contains_gold"] = float(any(contains_answer(text, a) for a in answers))
        m["exact_match"] = float(exact_match(text, answers))
        m["token_f1"] = token_f1(text, answers)
    by_n = {p.n: p.text for p in answer.passages}
    shown = [v for v in answer.sentences if v.status != "unsupported"]
    claim_free = not answer.refused and not shown
    if not answer.refused and shown:
        # The "As of <date>," attribution is checked against the passage's date by the
        # verifier; the judge sees the claim itself.
        claims = [(strip_as_of(v.text)[0], [by_n[n] for n in v.citations if n in by_n]) for v in shown]
        cs = citation_scores(claims, supports)
        m["citation_recall"] = cs.recall
        m["citation_precision"] = cs.precision
    if answer.sentences:
        m["sentences_supported"] = len(shown) / len(answer.sentences)
    m["refused"] = float(answer.refused)
    return QuestionResult(
        id=q.id,
        question=q.question,
        answers=answers,
        answerable=q.answerable,
        answer=answer.to_dict(),
        metrics=m,
        claim_free=claim_free,
        seconds=seconds,
    )


# Metrics reported with a bootstrap CI, and the questions each is averaged over.
METRICS = (
    [f"hit@{k}" for k in KS]
    + [f"within_{b}" for b in BUDGETS]
    + ["mrr", "evidence_recall", "contains_gold", "exact_match", "token_f1"]
    + ["citation_recall", "citation_precision", "sentences_supported"]
)


def summarize(results: Sequence[QuestionResult]) -> dict[str, Any]:
    """Means with 95% CIs (Wilson's for yes/no metrics, bootstrap for graded ones), refusal
    P/R, the 2x2 table, and per-question values."""
    summary: dict[str, Any] = {"questions": len(results), "metrics": {}}
    for name in METRICS:
        values = [r.metrics[name] for r in results if r.metrics.get(name) is not None]
        if values:
            mean, lo, hi = mean_ci([float(v) for v in values])  # type: ignore[arg-type]
            summary["metrics"][name] = {"mean": mean, "ci95": [lo, hi], "n": len(values)}
    refused = [bool(r.metrics["refused"]) for r in results]
    unanswerable = [not r.answerable for r in results]
    precision, recall = precision_recall(refused, unanswerable)
    summary["refusal"] = {
        "precision": precision,
        "recall": recall,
        "false_refusal_rate": _share([ref for ref, un in zip(refused, unanswerable) if not un]),
        "refused": sum(refused),
        "unanswerable": sum(unanswerable),
        # Each a share of a subset of questions, so each gets the interval of its subset.
        "precision_ci95": _ci([float(un) for ref, un in zip(refused, unanswerable) if ref]),
        "recall_ci95": _ci([float(ref) for ref, un in zip(refused, unanswerable) if un]),
        "false_refusal_rate_ci95": _ci([float(ref) for ref, un in zip(refused, unanswerable) if not un]),
    }
    table = {"correct_grounded": 0, "correct_ungrounded": 0, "incorrect_grounded": 0, "incorrect_ungrounded": 0}
    for r in results:
        if not r.answerable or r.metrics["refused"] or r.claim_free:
            continue
        correct = "correct" if r.metrics.get("contains_gold") else "incorrect"
        grounded = "grounded" if r.metrics.get("citation_recall") == 1.0 else "ungrounded"
        table[f"{correct}_{grounded}"] += 1
    summary["correct_x_grounded"] = table
    summary["claim_free_answers"] = sum(r.claim_free for r in results)
    statuses = [v["status"] for r in results for v in r.answer.get("sentences", ())]
    summary["sentences"] = {
        "generated": len(statuses),
        "removed": statuses.count("unsupported"),
        "reattached": statuses.count("reattached"),
        "answers_refused_after_verification": sum(
            1 for r in results if r.answer.get("status") == "refused" and r.answer.get("sentences")
        ),
    }
    summary["by_source"] = _by_source(results)
    summary["by_answerability"] = _by_answerability(results)
    ms = [1000 * r.seconds for r in results]
    summary["latency_ms"] = {"p50": percentile(ms, 0.5), "p95": percentile(ms, 0.95)}
    summary["per_question"] = {r.id: {k: v for k, v in r.metrics.items() if v is not None} for r in results}
    return summary


# The figures split by whether the question's source article is in the corpus.
BY_SOURCE_METRICS = ("hit@5", "within_1024", "within_2048", "contains_gold", "refused")


def _by_source(results: Sequence[QuestionResult]) -> dict[str, dict[str, float]]:
    """Answerable questions' means, split by ``source_indexed`` ({} when the gold names no sources)."""
    # Questions with no gold URL form a third group: their source is unknown.
    out: dict[str, dict[str, float]] = {}
    answerable = [r for r in results if r.answerable]
    if all(r.metrics.get("source_indexed") is None for r in answerable):
        return out
    for key, flag, _ in SOURCE_GROUPS:
        subset = [r for r in answerable if r.metrics.get("source_indexed") == (None if flag is None else float(flag))]
        if not subset:
            continue
        row = {"n": float(len(subset))}
        for name in BY_SOURCE_METRICS:
            values = [float(v) for r in subset if (v := r.metrics.get(name)) is not None]
            if values:
                row[name] = sum(values) / len(values)
        out[key] = row
    return out


def _by_answerability(results: Sequence[QuestionResult]) -> dict[str, dict[str, float]]:
    """Per group: n; for answerable groups the share whose answer passages hold the gold
    answer, whose shown answer holds it, refused, and refused although the passages held
    it; for the others the share refused."""
    out: dict[str, dict[str, float]] = {}
    for key, _ in ANSWERABILITY_GROUPS:
        subset = [r for r in results if r.group == key]
        if not subset:
            continue
        n = len(subset)
        refused = [bool(r.metrics["refused"]) for r in subset]
        row = {"n": float(n), "refused": sum(refused) / n}
        if subset[0].answerable:
            held = [bool(r.metrics.get("passages_hold")) for r in subset]
            row["passages_hold"] = sum(held) / n
            row["contains_gold"] = sum(bool(r.metrics.get("contains_gold")) for r in subset) / n
            row["refused_answer_retrieved"] = sum(h and f for h, f in zip(held, refused)) / n
        out[key] = row
    return out


def _ci(values: Sequence[float]) -> list[float] | None:
    return list(mean_ci(values)[1:]) if values else None


def _share(flags: Sequence[bool]) -> float | None:
    return sum(flags) / len(flags) if flags else None


def as_jsonl_rows(results: Sequence[QuestionResult]) -> list[dict[str, Any]]:
    """Per-question results, JSON-ready."""
    return [asdict(r) for r in results]
