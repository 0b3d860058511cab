"""What verification costs: answers of five LLM-style sentences verified by each judge.

Usage::

    python -m evals.bench_verify [--answers 60]

Answers are built from the labelled pairs of ``evals/support_pairs.jsonl``: five
claims (faithful and wrong mixed, as a model writes them) each citing its own
passage among eight. Every answer is verified cold (parse caches cleared) and
warm, by the lexical judge and by the relation judge; the figures are the
per-answer milliseconds (p50, p95) and the relation judge's cost over the
lexical one, measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from importlib import resources
from pathlib import Path

from evals.metrics import percentile
from rag import nlp
from rag.relations import RelationJudge
from rag.types import Passage
from rag.verify import LexicalJudge, SupportJudge, verify


def _answers(n: int, seed: int = 0) -> list[tuple[str, list[Passage]]]:
    path = Path(str(resources.files("evals") / "support_pairs.jsonl"))
    pairs = [p for line in path.read_text().splitlines() if "claim" in (p := json.loads(line))]
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        chosen = rng.sample(pairs, 8)
        passages = [Passage(i, f"c{i}", p["passage"], f"a{i}", "", "", "", "", 0, len(p["passage"]), None)
                    for i, p in enumerate(chosen, start=1)]
        text = " ".join(f"{p['claim'].rstrip('.')} [{i}]." for i, p in enumerate(chosen[:5], start=1))
        out.append((text, passages))
    return out


def _time(judge: SupportJudge, answers: list[tuple[str, list[Passage]]], cold: bool) -> list[float]:
    ms = []
    for text, passages in answers:
        if cold:
            nlp.clear_caches()
        started = time.perf_counter()
        verify(text, passages, judge)
        ms.append((time.perf_counter() - started) * 1000)
    return ms


def main(argv: list[str] | None = None) -> None:
    """Print the figures."""
    ap = argparse.ArgumentParser(description="Verification cost per five-sentence answer")
    ap.add_argument("--answers", type=int, default=60)
    args = ap.parse_args(argv)
    answers = _answers(args.answers)
    nlp.parse("Warm up the parser.")
    print(f"{len(answers)} answers of 5 sentences, 8 passages each")
    print("| judge | cold p50 | cold p95 | warm p50 | warm p95 |\n|---|---|---|---|---|")
    figures = {}
    for name, judge in (("lexical", LexicalJudge()), ("relations", RelationJudge())):
        cold = _time(judge, answers, True)
        _time(judge, answers, False)  # every parse cached: what a repeated question costs
        warm = _time(judge, answers, False)
        figures[name] = percentile(cold, 0.5) or 0.0
        print(f"| {name} | {figures[name]:.1f} ms | {percentile(cold, 0.95):.1f} ms | "
              f"{percentile(warm, 0.5):.1f} ms | {percentile(warm, 0.95):.1f} ms |")
    print(f"relation judge adds {figures['relations'] - figures['lexical']:.1f} ms p50 per answer (cold)")


if __name__ == "__main__":
    main()
