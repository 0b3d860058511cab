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

    def at(threshold: float) -> dict[str, float]:
        answerable = [r for r in rows if r[0].answerable]
        unanswerable = [r for r in rows if not r[0].answerable]
        refused = lambda r: r[1].refused or r[2] < threshold  # noqa: E731
        contains = [not refused(r) and any(contains_answer(r[1].text, a) for a in r[0].answers) for r in answerable]
        return {
            "contains_gold": sum(contains) / len(answerable),
            "refusal_recall": sum(refused(r) for r in unanswerable) / max(1, len(unanswerable)),
            "false_refusals": sum(refused(r) for r in answerable) / len(answerable),
        }

    print("\nrefusal threshold sweep (evidence score = share of the question's key words in one sentence):")
    print("| threshold | answer contains gold | refusal recall | false refusals |\n|---|---|---|---|")
    for t in (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8):
        m = at(t)
        print(f"| {t:.1f} | {m['contains_gold']:.3f} | {m['refusal_recall']:.3f} | {m['false_refusals']:.3f} |")
    m = at(settings.refusal_threshold)
    shown = sum(r[3] for r in rows if not (r[1].refused or r[2] < settings.refusal_threshold))
    total = sum(r[4] for r in rows if not (r[1].refused or r[2] < settings.refusal_threshold))
    print(f"\nat the configured threshold {settings.refusal_threshold}: answer contains gold "
          f"{m['contains_gold']:.3f}, refusal recall {m['refusal_recall']:.3f}, false refusals "
          f"{m['false_refusals']:.3f}, sentences verified {shown}/{total}")
    print(f"warm ask latency: p50 {percentile(latencies, 0.5):.0f} ms, p95 {percentile(latencies, 0.95):.0f} ms "
          f"over {len(latencies)} questions")


if __name__ == "__main__":
    main()
