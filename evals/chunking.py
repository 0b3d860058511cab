"""Compare chunk settings by dense retrieval at equal budgets of retrieved text.

Larger chunks trivially contain the answer more often per chunk, so the fair
comparison is answer-hit within B retrieved tokens. Each setting is ingested
into its own corpus under ``--data-dir`` (kept, so reruns only score).

Usage::

    python -m evals.chunking --articles A.jsonl --gold QA.jsonl --data-dir DIR \
        --setting 128/16 --setting 256/32 ...
"""

from __future__ import annotations

import argparse
import time

from evals.gold import load_gold
from evals.retrieval import RetrievalScores, dense_retrieve, score
from index.ingest import ingest
from rag.settings import load_settings
from rag.store import ChunkStore


def main(argv: list[str] | None = None) -> None:
    """Ingest (if needed) and score every chunk setting; print a Markdown table."""
    ap = argparse.ArgumentParser(description="Chunk-size comparison")
    ap.add_argument("--articles", required=True)
    ap.add_argument("--gold", required=True)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--setting", action="append", required=True, help="SIZE/OVERLAP in tokens")
    args = ap.parse_args(argv)
    gold = load_gold(args.gold)
    rows = []
    for setting in args.setting:
        size, overlap = (int(x) for x in setting.split("/"))
        settings = load_settings(data_dir=args.data_dir, corpus=f"chunks-{size}-{overlap}",
                                 chunk_size=size, chunk_overlap=overlap)
        store = ChunkStore(settings)
        started = time.perf_counter()
        report = ingest([args.articles], settings, store=store)
        stats = store.stats()
        scores = score(gold, dense_retrieve(settings))
        rows.append(scores.row(f"{size}/{overlap} ({stats.chunks} chunks)"))
        print(f"{setting}: ingest {time.perf_counter() - started:.0f} s "
              f"({report.chunks_written} chunks embedded now)", flush=True)
        print(RetrievalScores.header())
        print("\n".join(rows), flush=True)


if __name__ == "__main__":
    main()
