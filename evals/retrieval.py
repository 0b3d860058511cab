"""Retrieval quality on gold questions, scored on text.

answer-hit@k: share of answerable questions whose gold answer occurs in one of
the top-k chunks. answer-hit within B tokens: the ranked chunks concatenated
and cut at B cl100k tokens, the figure that compares chunk sizes fairly.

Usage::

    python -m evals.retrieval --gold ../shared/data/realtimeqa-2022-small/qa.jsonl \
        [--corpus NAME] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from evals.gold import GoldQuestion, load_gold
from evals.metrics import answer_hit_at_k, answer_hit_within
from rag.settings import Settings
from rag.tokens import cl100k

KS = (1, 2, 5, 10)
BUDGETS = (512, 1024, 2048)
Retrieve = Callable[[str], Sequence[str]]


@dataclass(frozen=True)
class RetrievalScores:
    """Shares of answerable questions with the answer retrieved."""

    n: int
    hit_at: dict[int, float]
    hit_within: dict[int, float]

    def row(self, name: str) -> str:
        """One Markdown table row."""
        cells = [f"{self.hit_at[k]:.3f}" for k in KS] + [f"{self.hit_within[b]:.3f}" for b in BUDGETS]
        return f"| {name} | " + " | ".join(cells) + " |"

    @staticmethod
    def header() -> str:
        """The Markdown table header matching :meth:`row`."""
        cols = [f"hit@{k}" for k in KS] + [f"within {b}" for b in BUDGETS]
        return "| retriever | " + " | ".join(cols) + " |\n" + "|---" * (len(cols) + 1) + "|"


def retrieval_hits(
    ranked: Sequence[str], answers: Sequence[str], tokens: Callable[[str], list[int]]
) -> dict[str, float]:
    """One question's ``hit@k`` and ``within_B`` (1.0 or 0.0) for the ranked chunk texts."""
    hits = {f"hit@{k}": float(answer_hit_at_k(ranked, answers, k)) for k in KS}
    hits.update({f"within_{b}": float(answer_hit_within(ranked, answers, b, tokens)) for b in BUDGETS})
    return hits


def score(questions: Sequence[GoldQuestion], retrieve: Retrieve) -> RetrievalScores:
    """Run ``retrieve`` on every answerable question and score the ranked texts."""
    tokens = cl100k()
    answerable = [q for q in questions if q.answerable]
    per_q = [retrieval_hits(list(retrieve(q.question)), q.answers, tokens) for q in answerable]
    n = len(answerable) or 1

    def mean(key: str) -> float:
        return sum(h[key] for h in per_q) / n

    return RetrievalScores(
        n=len(answerable),
        hit_at={k: mean(f"hit@{k}") for k in KS},
        hit_within={b: mean(f"within_{b}") for b in BUDGETS},
    )


def dense_retrieve(settings: Settings, top_k: int = 40) -> Retrieve:
    """A plain dense retriever over the settings' corpus (llama-index over Chroma)."""
    from llama_index.core import VectorStoreIndex

    from rag.embed import make_embedder
    from rag.store import ChunkStore

    store = ChunkStore(settings)
    index = VectorStoreIndex.from_vector_store(store.vector_store(), embed_model=make_embedder(settings))
    retriever = index.as_retriever(similarity_top_k=top_k)
    return lambda question: [n.node.get_content() for n in retriever.retrieve(question)]


def main(argv: list[str] | None = None) -> None:
    """Print the dense retriever's scores on a gold set."""
    from rag.settings import load_settings

    ap = argparse.ArgumentParser(description="Dense retrieval answer-hit on a gold set")
    ap.add_argument("--gold", required=True)
    ap.add_argument("--corpus")
    ap.add_argument("--data-dir")
    args = ap.parse_args(argv)
    settings = load_settings(corpus=args.corpus, data_dir=args.data_dir)
    scores = score(load_gold(args.gold), dense_retrieve(settings))
    print(f"{scores.n} answerable questions")
    print(RetrievalScores.header())
    print(scores.row("dense"))


if __name__ == "__main__":
    main()
