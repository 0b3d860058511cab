"""Benchmark the local embedder's variants on the same chunks: speed and agreement with torch.

Usage::

    python -m evals.bench_embed [--articles A.jsonl] [--n 512] [--variant onnx ...]

The chunks are made as ingest makes them (boilerplate cleaning, then 128/16 token
chunks by default), and a uniform sample of ``--n`` is embedded by each variant
in slices of ingest's write batch. Variants take turns over ``--rounds`` rounds,
so a machine shared with other jobs slows them all alike; each reports its best
round (the least disturbed) and its median. Compare the ratios. Tokens are the model's word pieces (special tokens
included, cut at 256), the work the model actually does.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from llama_index.core import Document
from llama_index.core.base.embeddings.base import BaseEmbedding

from index.chunk import Chunker
from index.clean import BoilerplateCleaner
from index.ingest import WRITE_BATCH
from index.load import iter_articles, sample_dir
from rag.embed import embedder_id, make_embedder
from rag.errors import RagError
from rag.fast_embed import BUILDS, wordpiece_counts
from rag.settings import Settings, load_settings

DEFAULT_ARTICLES = Path(__file__).resolve().parents[1].parent / "shared/data/realtimeqa-2022-small/articles.jsonl"
VARIANTS = ("torch", "openvino", "onnx", "onnx-int8")


def sample_chunks(path: Path, settings: Settings, n: int, seed: int = 0) -> list[str]:
    """A uniform sample of ``n`` chunk texts of the articles under ``path``, chunked as ingest does."""
    docs = [d for d in iter_articles([path], settings) if isinstance(d, Document)]
    cleaner = BoilerplateCleaner() if settings.clean_boilerplate else None
    if cleaner is not None:
        cleaner.fit([d.text for d in docs])
    chunker = Chunker(chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap)
    texts: list[str] = []
    for doc in docs:
        text = cleaner.clean(doc.text) if cleaner is not None else doc.text
        if text.strip():
            texts += [node.text for node in chunker.split(Document(id_=doc.id_, text=text))]
    return random.Random(seed).sample(texts, min(n, len(texts)))


def embed_like_ingest(embedder: BaseEmbedding, texts: Sequence[str]) -> np.ndarray:
    """Embed in slices of ingest's write batch, as ingest calls the embedder."""
    parts = [
        embedder.get_text_embedding_batch(list(texts[i : i + WRITE_BATCH]))
        for i in range(0, len(texts), WRITE_BATCH)
    ]
    return np.asarray([v for part in parts for v in part], dtype=np.float32)


def main(argv: list[str] | None = None) -> None:
    """Build (once) and time every variant; print one Markdown table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--articles", type=Path, help="JSONL (or any ingestible path); default: "
                    "realtimeqa-2022-small when ../shared/data has it, else the bundled sample")
    ap.add_argument("--n", type=int, default=512, help="chunks embedded per variant and round")
    ap.add_argument("--chunk-size", type=int, default=128)
    ap.add_argument("--chunk-overlap", type=int, default=16)
    ap.add_argument("--batch", type=int, default=64, help="embed_batch_size: texts per model run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--variant", action="append", choices=VARIANTS, help="default: all")
    ap.add_argument("--data-dir", help="where built models are cached (default: a temporary directory)")
    args = ap.parse_args(argv)
    articles = args.articles or (DEFAULT_ARTICLES if DEFAULT_ARTICLES.is_file() else sample_dir())
    variants = list(dict.fromkeys(["torch", *(args.variant or VARIANTS)]))  # torch is the reference

    with tempfile.TemporaryDirectory() as tmp:
        base = dict(data_dir=args.data_dir or tmp, chunk_size=args.chunk_size,
                    chunk_overlap=args.chunk_overlap, embed_batch_size=args.batch)
        texts = sample_chunks(articles, load_settings(**base), args.n)
        tokens = sum(wordpiece_counts(texts))
        embedders: dict[str, BaseEmbedding] = {}
        ids: dict[str, str] = {}
        build: dict[str, float] = {}
        for variant in variants:
            settings = load_settings(**base, embed_variant=variant)
            before = sum(BUILDS.values())
            started = time.perf_counter()
            try:
                embedders[variant] = make_embedder(settings)
            except RagError as exc:
                print(f"{variant}: unavailable: {exc}")
                continue
            ids[variant] = embedder_id(settings)
            build[variant] = time.perf_counter() - started if sum(BUILDS.values()) > before else 0.0
            embed_like_ingest(embedders[variant], texts[:32])  # warm-up: first-run allocations

        seconds: dict[str, list[float]] = {v: [] for v in embedders}
        vectors: dict[str, np.ndarray] = {}
        load = os.getloadavg()[0]
        for _ in range(args.rounds):
            for variant, embedder in embedders.items():
                started = time.perf_counter()
                vectors[variant] = embed_like_ingest(embedder, texts)
                seconds[variant].append(time.perf_counter() - started)

    print(f"{len(texts)} chunks of {articles} ({args.chunk_size}/{args.chunk_overlap} tokens), "
          f"{tokens:,} word pieces; batch {args.batch}; {os.cpu_count()} cores; {args.rounds} "
          f"interleaved rounds; load average {load:.1f} before, {os.getloadavg()[0]:.1f} after")
    print("\n| variant | embedder id | tokens/s (best) | chunks/s (best) | x torch | tokens/s (median) "
          "| cosine to torch: mean | min | first-use build s |")
    print("|---|---|---|---|---|---|---|---|---|")
    best = {v: len(texts) / min(seconds[v]) for v in embedders}
    for variant in embedders:
        rate = best[variant]
        median = tokens / statistics.median(seconds[variant])
        ratio = f"{rate / best['torch']:.2f}" if "torch" in best else "n/a"
        if "torch" in vectors:
            cos = (vectors[variant] * vectors["torch"]).sum(axis=1)
            cos_mean, cos_min = f"{cos.mean():.6f}", f"{cos.min():.6f}"
        else:
            cos_mean = cos_min = "n/a"
        name = variant
        precision = getattr(embedders[variant], "precision", None)
        if variant == "openvino" and precision:
            name += f" ({precision})"
        print(f"| {name} | {ids[variant]} | {rate * tokens / len(texts):,.0f} | {rate:.1f} | {ratio} | "
              f"{median:,.0f} | {cos_mean} | {cos_min} | {build[variant]:.1f} |")


if __name__ == "__main__":
    main()
