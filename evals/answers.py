"""Answer-engine figures on a gold set: retrieval per mode, extractive answer
quality, verification, refusals, latency, and the refusal-threshold sweep.

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
from evals.run import SOURCE_GROUPS, sources_indexed
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

    # Ask every question once with no refusal threshold, to see the evidence
    # scores of both kinds of question; the threshold is then applied offline.
    open_engine = Engine(settings.model_copy(update={"refusal_threshold": 0.0}), store=engine.store,
                         embedder=engine.embedder)
    rows = []
    latencies = []
    for q in gold:
        started = time.perf_counter()
        ans = open_engine.ask(q.question, filters=Filters(reference_date=q.reference_date))
        latencies.append((time.perf_counter() - started) * 1000)
        shown = [v for v in ans.sentences if v.status != "unsupported"]
        rows.append((q, ans, float(ans.timings.get("evidence", 0.0)), len(shown), len(ans.sentences)))

    def refused(r: tuple, threshold: float) -> bool:
        return r[1].refused or r[2] < threshold

    def correct(r: tuple, threshold: float) -> bool:
        return not refused(r, threshold) and any(contains_answer(r[1].text, a) for a in r[0].answers)

    def share(flags: list[bool]) -> float:
        return sum(flags) / max(1, len(flags))

    def at(threshold: float) -> dict[str, float]:
        answerable = [r for r in rows if r[0].answerable]
        indexed_rows = [r for r in answerable if has_source[r[0].id]]
        return {
            "contains_gold": share([correct(r, threshold) for r in answerable]),
            "refusal_recall": share([refused(r, threshold) for r in rows if not r[0].answerable]),
            "false_refusals": share([refused(r, threshold) for r in answerable]),
            "false_refusals_indexed": share([refused(r, threshold) for r in indexed_rows]),
        }

    print("\nrefusal threshold sweep (evidence score = share of the question's key words in one sentence):")
    print("| threshold | answer contains gold | refusal recall | false refusals | false refusals, source article "
          "in the corpus |\n|---|---|---|---|---|")
    for t in (0.0, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5, 0.6, 0.7, 0.8):
        m = at(t)
        print(f"| {t:.2f} | {m['contains_gold']:.3f} | {m['refusal_recall']:.3f} | {m['false_refusals']:.3f} "
              f"| {m['false_refusals_indexed']:.3f} |")
    threshold = settings.refusal_threshold
    m = at(threshold)
    kept = [r for r in rows if not refused(r, threshold)]
    print(f"\nat the configured threshold {threshold}: answer contains gold "
          f"{m['contains_gold']:.3f}, refusal recall {m['refusal_recall']:.3f}, false refusals "
          f"{m['false_refusals']:.3f}, sentences verified {sum(r[3] for r in kept)}/{sum(r[4] for r in kept)}")
    for _, flag, label in SOURCE_GROUPS:
        subset = [r for r in rows if r[0].answerable and has_source[r[0].id] is flag]
        if subset:
            print(f"answerable questions, {label} ({len(subset)}): answer contains gold "
                  f"{share([correct(r, threshold) for r in subset]):.3f}, false refusals "
                  f"{share([refused(r, threshold) for r in subset]):.3f}")
    print(f"warm ask latency: p50 {percentile(latencies, 0.5):.0f} ms, p95 {percentile(latencies, 0.95):.0f} ms "
          f"over {len(latencies)} questions")


if __name__ == "__main__":
    main()
