"""Benchmark ``rag ingest``: throughput, peak memory, the pipeline's share of raw
embedder speed, and the cost of an immediate re-ingest.

Usage::

    python -m evals.bench_ingest ../shared/data/realtimeqa-2022-small/articles.jsonl

Everything runs in one process on a fresh temporary store, so the figures are
comparable as ratios even on a noisy machine.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import tempfile
import time
from pathlib import Path

from index.ingest import ingest
from rag.embed import make_embedder
from rag.settings import load_settings
from rag.store import ChunkStore


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="+", type=Path)
    ap.add_argument("--chunk-size", type=int)
    ap.add_argument("--chunk-overlap", type=int)
    ap.add_argument("--data-dir", help="keep the store here (default: a temporary directory)")
    ap.add_argument("--corpus", default="bench")
    ap.add_argument("--raw-sample", type=float, default=0.25,
                    help="share of the chunks the raw embedder is timed on")
    ap.add_argument("--json", dest="out", type=Path, help="also write the figures here (evals.bench reads them)")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            data_dir=args.data_dir or tmp,
            corpus=args.corpus,
            chunk_size=args.chunk_size,
            chunk_overlap=args.chunk_overlap,
        )
        store = ChunkStore(settings)
        first = ingest(args.paths, settings, store=store)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        again = ingest(args.paths, settings, store=store)

        # A uniform sample of the very chunks the pipeline embedded.
        texts = [text for _, text, _ in store.iter_chunks()]
        rng = random.Random(0)
        sample = rng.sample(texts, max(1, int(len(texts) * args.raw_sample)))
        embedder = make_embedder(settings)
        embedder.get_text_embedding_batch(sample[:64])  # warm-up, as the pipeline's model is warm
        started = time.perf_counter()
        embedder.get_text_embedding_batch(sample)
        raw_rate = len(sample) / (time.perf_counter() - started)

    n_chunks = first.chunks_written
    print(f"corpus: {', '.join(map(str, args.paths))}")
    print(f"settings: chunk_size={settings.chunk_size} overlap={settings.chunk_overlap} "
          f"embedder={settings.embed_backend} batch={settings.embed_batch_size}")
    print(f"first ingest: {first.seconds:.1f} s, {first.articles_seen} articles, "
          f"{n_chunks} chunks, {first.tokens_written:,} tokens, {len(first.errors)} errors")
    print(f"  articles/s {first.articles_seen / first.seconds:.1f}  chunks/s {n_chunks / first.seconds:.1f}  "
          f"tokens/s {first.tokens_written / first.seconds:,.0f}  peak RSS {peak_mb:,.0f} MB")
    print(f"  time inside the embedder: {first.embed_seconds:.1f} s")
    pipeline_rate = n_chunks / first.seconds
    print(f"raw embedder on {len(sample)} of the same chunks (uniform sample): {raw_rate:.1f} chunks/s")
    print(f"pipeline share of raw embedder throughput: {pipeline_rate / raw_rate:.3f} (target >= 0.85)")
    print(f"re-ingest unchanged: {again.seconds:.2f} s = {again.seconds / first.seconds:.1%} of the first "
          f"(target < 5%); {again.unchanged} unchanged, {again.chunks_written} chunks embedded")
    print(f"cleaning removed: {dict(first.cleaning.lines)} lines, {sum(first.cleaning.chars.values()):,} chars")
    print(f"near-duplicates found: {len(first.near_duplicates)}")
    if args.out:
        args.out.write_text(json.dumps({
            "seconds": first.seconds, "tokens_s": first.tokens_written / first.seconds, "peak_rss_mb": peak_mb,
            "pipeline_share": pipeline_rate / raw_rate, "reingest_s": again.seconds,
        }, indent=1))


if __name__ == "__main__":
    main()
