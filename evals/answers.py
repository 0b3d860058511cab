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
import time

from evals.gold import load_gold
from evals.metrics import contains_answer, percentile
from evals.retrieval import RetrievalScores, score
from rag.pipeline import Engine
from rag.settings import load_settings
from rag.types import Filters


SOURCE_GROUPS = ((True, "source article in the corpus"), (False, "source article not in the corpus"),
                 (None, "no source named"))


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
    for mode in ("dense", "bm25", "hybrid"):
        for dated in (False, True):
            if dated and mode != "hybrid":
                continue
            by_q = {q.question: q for q in gold}

            def retrieve(question: str, mode: str = mode, dated: bool = dated) -> list[str]:
                f = Filters(reference_date=by_q[question].reference_date) if dated else None
                return [n.node.get_content() for n in engine.retriever.search(question, f, k=40, mode=mode)]

            name = mode + (" + reference date" if dated else "")
            print(score(gold, retrieve).row(name), flush=True)
    # A gold answer string found only in articles other than the question's source
    # is often a coincidence: split by whether the source is in the corpus.
    indexed = {str(m.get("url")) for m in engine.store.first_chunks()}
    has_source = {q.id: any(u in indexed for u in q.gold_urls) if q.gold_urls else None for q in gold}
    for flag, label in SOURCE_GROUPS:
        subset = [q for q in gold if has_source[q.id] is flag]
        if subset:
            print(score(subset, retrieve).row(f"hybrid + reference date, {label} ({sum(q.answerable for q in subset)} q)"))

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
    for flag, label in SOURCE_GROUPS:
        subset = [r for r in rows if r[0].answerable and has_source[r[0].id] is flag]
        if subset:
            print(f"answerable questions, {label} ({len(subset)}): answer contains gold "
                  f"{share([correct(r, threshold) for r in subset]):.3f}, false refusals "
                  f"{share([refused(r, threshold) for r in subset]):.3f}")
    print(f"warm ask latency: p50 {percentile(latencies, 0.5):.0f} ms, p95 {percentile(latencies, 0.95):.0f} ms "
          f"over {len(latencies)} questions")


if __name__ == "__main__":
    main()
