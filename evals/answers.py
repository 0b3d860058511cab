"""Answer-engine figures on a gold set: retrieval per mode, extractive answer
quality, verification, refusals, latency, and the answerability-threshold sweep
by question group (answer in its own article, coincidental, unanswerable, near miss).

Usage::

    python -m evals.answers --gold ../shared/data/realtimeqa-2022-small/qa.jsonl \
        --corpus NAME [--data-dir DIR]

The corpus must be ingested already. Every question is asked with its
``question_date`` as the reference date, through the same ``Engine.ask`` the
chat uses.
"""

from __future__ import annotations

import argparse
import functools
import time
from collections.abc import Callable

from evals.gold import load_gold
from evals.metrics import contains_answer, percentile
from evals.retrieval import RetrievalScores, score
from evals.run import ANSWERABILITY_GROUPS, SOURCE_GROUPS, answerability_group, sources_indexed
from rag.pipeline import Engine
from rag.retrieve import Mode
from rag.settings import load_settings
from rag.types import Filters


def main(argv: list[str] | None = None) -> None:
    """Print the figures."""
    ap = argparse.ArgumentParser(description="Answer-engine figures")
    ap.add_argument("--gold", required=True)
    ap.add_argument("--corpus")
    ap.add_argument("--data-dir")
    args = ap.parse_args(argv)
    settings = load_settings(corpus=args.corpus, data_dir=args.data_dir)
    gold = load_gold(args.gold)
    engine = Engine(settings)
    engine.search("warm up")

    print(f"{len(gold)} questions, {sum(q.answerable for q in gold)} answerable")
    print(RetrievalScores.header())
    by_q = {q.question: q for q in gold}

    def searcher(mode: Mode, dated: bool) -> Callable[[str], list[str]]:
        @functools.cache
        def retrieve(question: str) -> list[str]:
            f = Filters(reference_date=by_q[question].reference_date) if dated else None
            return [n.node.get_content() for n in engine.retriever.search(question, f, k=40, mode=mode)]
        return retrieve

    dated_hybrid = searcher("hybrid", True)
    for name, retrieve in (("dense", searcher("dense", False)), ("bm25", searcher("bm25", False)),
                           ("hybrid", searcher("hybrid", False)), ("hybrid + reference date", dated_hybrid)):
        print(score(gold, retrieve).row(name), flush=True)
    # A gold answer string found only in articles other than the question's source
    # is often a coincidence: split by whether the source is in the corpus.
    has_source = sources_indexed(gold, engine.store)
    for _, flag, label in SOURCE_GROUPS:
        subset = [q for q in gold if has_source[q.id] is flag]
        if subset:
            n = sum(q.answerable for q in subset)
            print(score(subset, dated_hybrid).row(f"hybrid + reference date, {label} ({n} q)"))

    # Ask every question once with no answerability threshold, keeping the reader's
    # answerability, so that the threshold can be swept offline.
    open_engine = Engine(settings.model_copy(update={"answerable_threshold": 0.0}), store=engine.store,
                         embedder=engine.embedder)
    rows = []
    latencies = []
    for q in gold:
        filters = Filters(reference_date=q.reference_date)
        started = time.perf_counter()
        ans = open_engine.ask(q.question, filters=filters)
        latencies.append((time.perf_counter() - started) * 1000)
        passages = open_engine.search(q.question, filters)
        read = open_engine.reader.read(q.question, passages, q.reference_date)
        held = q.answerable and any(contains_answer(p.text, a) for p in passages for a in q.answers)
        shown = [v for v in ans.sentences if v.status != "unsupported"]
        rows.append((q, ans, read.answerability, len(shown), len(ans.sentences), held))

    def refused(r: tuple, threshold: float) -> bool:
        return r[1].refused or r[2] < threshold

    def correct(r: tuple, threshold: float) -> bool:
        return not refused(r, threshold) and any(contains_answer(r[1].text, a) for a in r[0].answers)

    def share(flags: list[bool]) -> str:
        return f"{sum(flags) / max(1, len(flags)):.3f}" if flags else "n/a"

    groups = {key: [r for r in rows if answerability_group(r[0]) == key] for key, _ in ANSWERABILITY_GROUPS}
    headline = groups["own_source"] or groups["answerable"]
    print("\nanswerability threshold sweep (headline: answer in the question's own article; refusals of "
          "unanswerable and near-miss questions):")
    print("| threshold | passages hold the answer | answer shown holds it | false refusals | refused with the "
          "answer retrieved | unanswerable refused | near misses refused |\n|---|---|---|---|---|---|---|")
    for t in (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        print(f"| {t:.2f} | {share([r[5] for r in headline])} | {share([correct(r, t) for r in headline])} "
              f"| {share([refused(r, t) for r in headline])} | {share([refused(r, t) and r[5] for r in headline])} "
              f"| {share([refused(r, t) for r in groups['unanswerable']])} "
              f"| {share([refused(r, t) for r in groups['near_miss']])} |")
    threshold = settings.answerable_threshold
    kept = [r for r in rows if not refused(r, threshold)]
    print(f"\nat the configured threshold {threshold}: sentences verified {sum(r[3] for r in kept)}/"
          f"{sum(r[4] for r in kept)}")
    for key, label in ANSWERABILITY_GROUPS:
        subset = groups[key]
        if subset and subset[0][0].answerable:
            print(f"{label} ({len(subset)}): answer contains gold {share([correct(r, threshold) for r in subset])}, "
                  f"refused {share([refused(r, threshold) for r in subset])}")
        elif subset:
            print(f"{label} ({len(subset)}): refused {share([refused(r, threshold) for r in subset])}")
    print(f"warm ask latency: p50 {percentile(latencies, 0.5):.0f} ms, p95 {percentile(latencies, 0.95):.0f} ms "
          f"over {len(latencies)} questions")


if __name__ == "__main__":
    main()
