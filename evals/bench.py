"""Every speed figure of the project in one run, beside what it is compared with.

Usage::

    python -m evals.bench [--data ../shared/data] [--work DIR] [--out bench-out]
                          [--only embed,llamaindex,ingest,latency,cold,quality]

Sections (all by default, in this order; each prints as it finishes):

* ``embed``: the default local embedder against the torch path on the same 512 chunks
  (tokens/s, interleaved rounds, best round).
* ``llamaindex``: plain llama-index (``VectorStoreIndex`` over Chroma, its default
  ``SentenceSplitter``, the same model through ``HuggingFaceEmbedding``) against our
  ingest on realtimeqa-2022-small: ingest time and answer-hit@5 of each.
* ``ingest``: the full realtimeqa-2022 corpus ingested fresh (``evals.bench_ingest`` in a
  child process, so its peak RSS is its own): time, tokens/s, peak RSS, the pipeline's
  share of the raw embedder's throughput, re-ingest of the unchanged corpus.
* ``latency``: warm extractive ``ask`` and retrieval alone (p50/p95) on realtimeqa-2022-small
  (1,042 articles) and the full corpus (4,565), each with its own gold questions, the growth
  from one to the other, and the next answer after another process ingests one more
  article; plus ``latency.png``.
* ``cold``: ``rag ask`` from process start to printed answer (child processes, median).
* ``quality``: dense answer-hit@5 and within-1024 on realtimeqa-2022-small with every chunk
  embedded by torch and by the default variant (exact search; slow: torch embeds 2.3 M tokens).

Stores are built under ``--work`` (kept, so a later run can reuse them with
``--small-store``/``--full-store`` and skip rebuilding). Figures go to stdout and to
``<out>/bench.json``. The machine is shared: compare ratios within one run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np

from evals.gold import GoldQuestion, load_gold
from evals.retrieval import score
from rag.settings import Settings, load_settings

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
SECTIONS = ("embed", "llamaindex", "ingest", "latency", "cold", "quality")
Figures = dict[str, Any]


def main(argv: list[str] | None = None) -> None:
    """Run the chosen sections and print their figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DATA, help="folder holding realtimeqa-2022{,-small}")
    ap.add_argument("--work", type=Path, help="where stores are built (default: a temporary directory)")
    ap.add_argument("--out", type=Path, default=Path("bench-out"))
    ap.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated: {', '.join(SECTIONS)}")
    ap.add_argument("--small-store", type=Path, help="data dir already holding corpus 'small'")
    ap.add_argument("--full-store", type=Path, help="data dir already holding corpus 'full'")
    ap.add_argument("--questions", type=int, default=100, help="questions timed per corpus")
    args = ap.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown sections {sorted(unknown)}; known: {', '.join(SECTIONS)}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        bench = _Bench(args.data, work, args.out, args.questions, args.small_store, args.full_store)
        print(f"# newsrag benchmark, {time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores, "
              f"load average {os.getloadavg()[0]:.1f}", flush=True)
        for section in SECTIONS:
            if section in only:
                print(f"\n## {section}", flush=True)
                started = time.perf_counter()
                bench.figures[section] = getattr(bench, section)()
                print(f"({section}: {time.perf_counter() - started:.0f} s)", flush=True)
        bench.figures["load_average_after"] = os.getloadavg()[0]
        (args.out / "bench.json").write_text(json.dumps(bench.figures, indent=1, default=str))
        print(f"\nfigures: {args.out / 'bench.json'}")


class _Bench:
    def __init__(
        self, data: Path, work: Path, out: Path, n_questions: int, small: Path | None, full: Path | None
    ) -> None:
        self.data, self.work, self.out, self.n_questions = data, work, out, n_questions
        self.small_articles = data / "realtimeqa-2022-small" / "articles.jsonl"
        self.full_articles = data / "realtimeqa-2022" / "articles.jsonl"
        self.small_store, self.full_store = small, full
        self.figures: dict[str, Figures] = {}

    def _settings(self, data_dir: Path, corpus: str, **overrides: Any) -> Settings:
        return load_settings(data_dir=data_dir, corpus=corpus, **overrides)

    def embed(self) -> Figures:
        from evals.bench_embed import embed_like_ingest, sample_chunks
        from rag.embed import make_embedder
        from rag.fast_embed import wordpiece_counts

        default = self._settings(self.work / "models", "bench")
        texts = sample_chunks(self.small_articles, default, 512)
        tokens = sum(wordpiece_counts(texts))
        embedders = {"torch": make_embedder(self._settings(self.work / "models", "bench", embed_variant="torch")),
                     "default": make_embedder(default)}
        for e in embedders.values():
            embed_like_ingest(e, texts[:32])
        best: dict[str, float] = {}
        for _ in range(3):  # interleaved rounds: a busy moment slows both alike
            for name, e in embedders.items():
                started = time.perf_counter()
                embed_like_ingest(e, texts)
                best[name] = min(best.get(name, float("inf")), time.perf_counter() - started)
        rates = {name: tokens / s for name, s in best.items()}
        ratio = rates["default"] / rates["torch"]
        variant = type(embedders["default"]).__name__ + f" ({getattr(embedders['default'], 'variant', 'torch')})"
        print(f"512 chunks, {tokens:,} word pieces: torch {rates['torch']:,.0f} tokens/s, "
              f"default {variant} {rates['default']:,.0f} tokens/s: {ratio:.2f}x (target >= 3x)")
        return {"tokens": tokens, "torch_tokens_s": rates["torch"], "default_tokens_s": rates["default"],
                "ratio": ratio, "default": variant}

    def _ensure_small(self) -> tuple[Path, float | None]:
        """Data dir holding corpus 'small' (ingested now unless given), and the ingest's seconds."""
        if self.small_store is not None:
            return self.small_store, None
        from index.ingest import ingest

        data_dir = self.work / "small"
        report = ingest([self.small_articles], self._settings(data_dir, "small"))
        self.small_store = data_dir
        return data_dir, report.seconds

    def llamaindex(self) -> Figures:
        from llama_index.core import Document, StorageContext, VectorStoreIndex

        from index.load import iter_articles
        from rag.embed import make_embedder
        from rag.pipeline import Engine
        from rag.store import ChunkStore, make_client
        from rag.types import Filters

        ours_dir, ours_s = self._ensure_small()
        gold = self._gold("realtimeqa-2022-small")
        plain_dir = self.work / "llamaindex"
        settings = self._settings(plain_dir, "plain", embed_variant="torch")
        started = time.perf_counter()
        docs = [Document(text=d.text, metadata={"url": d.metadata.get("url", "")})
                for d in iter_articles([self.small_articles], settings) if isinstance(d, Document)]
        collection = make_client(settings).get_or_create_collection("plain")
        from llama_index.vector_stores.chroma import ChromaVectorStore

        storage = StorageContext.from_defaults(vector_store=ChromaVectorStore(chroma_collection=collection))
        index = VectorStoreIndex.from_documents(docs, storage_context=storage, embed_model=make_embedder(settings))
        plain_s = time.perf_counter() - started
        plain_retriever = index.as_retriever(similarity_top_k=5)
        plain = score(gold, lambda q: [n.node.get_content() for n in plain_retriever.retrieve(q)])

        engine = Engine(self._settings(ours_dir, "small"))
        by_text = {q.question: q for q in gold}

        def ours_retrieve(question: str) -> list[str]:
            ref = by_text[question].reference_date
            return [p.text for p in engine.search(question, Filters(reference_date=ref), k=5)]

        ours = score(gold, ours_retrieve)
        out: Figures = {"plain_ingest_s": plain_s, "plain_chunks": collection.count(), "plain_hit5": plain.hit_at[5],
                        "ours_hit5": ours.hit_at[5], "ours_chunks": ChunkStore(engine.settings).counts()[1],
                        "questions": ours.n}
        line = f"plain llama-index: ingest {plain_s:.0f} s ({out['plain_chunks']} chunks of 1024/200), "
        line += f"answer-hit@5 {plain.hit_at[5]:.3f}\nours: "
        if ours_s is not None:
            out["ours_ingest_s"] = ours_s
            line += f"ingest {ours_s:.0f} s ({out['ours_chunks']} chunks of 128/16) = {ours_s / plain_s:.2f}x its time, "
        line += f"answer-hit@5 {ours.hit_at[5]:.3f} (hybrid, recency prior); {ours.n} answerable questions"
        print(line)
        return out

    def ingest(self) -> Figures:
        data_dir = self.work / "full"
        if self.full_store is not None:
            print(f"skipped: --full-store {self.full_store} given")
            return {}
        figures = self.work / "ingest.json"
        proc = subprocess.run(
            [sys.executable, "-m", "evals.bench_ingest", str(self.full_articles), "--data-dir", str(data_dir),
             "--corpus", "full", "--json", str(figures)],
            capture_output=True, text=True, check=True,
        )
        print(proc.stdout.strip())
        self.full_store = data_dir
        out: Figures = json.loads(figures.read_text())
        return out

    def latency(self) -> Figures:
        small_store, _ = self._ensure_small()
        sizes: list[tuple[str, Path, str, int]] = [("small", small_store, "realtimeqa-2022-small", 1042)]
        if self.full_store is not None:
            sizes.append(("full", self.full_store, "realtimeqa-2022", 4565))
        out: Figures = {}
        for corpus, data_dir, gold_set, articles in sizes:
            out[corpus] = self._time_asks(self._settings(data_dir, corpus), self._gold(gold_set)[: self.n_questions])
            out[corpus]["articles"] = articles
            f = out[corpus]
            print(f"{corpus} ({articles:,} articles): ask p50 {f['ask_p50_ms']:.0f} ms, p95 {f['ask_p95_ms']:.0f} ms; "
                  f"retrieval p50 {f['search_p50_ms']:.0f} ms, p95 {f['search_p95_ms']:.0f} ms ({f['n']} questions)")
        if "full" in out:
            growth = out["full"]["ask_p50_ms"] / out["small"]["ask_p50_ms"]
            out["growth_full_over_small"] = growth
            print(f"ask p50 growth, 4,565 over 1,042 articles: {growth:.2f}x (target <= 1.5x)")
            out["after_one_article_s"] = self._after_one_article(self._settings(self.full_store, "full"))
            print(f"next answer after another process ingested one article: {out['after_one_article_s']:.2f} s "
                  "(target < 2 s)")
        _plot([(out[c]["articles"], out[c]["ask_p50_ms"], out[c]["ask_p95_ms"], out[c]["search_p50_ms"])
               for c, *_ in sizes], self.out / "latency.png")
        print(f"plot: {self.out / 'latency.png'}")
        return out

    def _time_asks(self, settings: Settings, questions: Sequence[GoldQuestion]) -> Figures:
        from rag.pipeline import Engine
        from rag.types import Filters

        engine = Engine(settings)
        for q in questions[:3]:  # warm-up: models loaded, caches primed as in a running server
            engine.ask(q.question, filters=Filters(reference_date=q.reference_date))
        asks, searches = [], []
        for q in questions:
            filters = Filters(reference_date=q.reference_date)
            started = time.perf_counter()
            engine.search(q.question, filters)
            searches.append((time.perf_counter() - started) * 1000)
        for q in questions:
            filters = Filters(reference_date=q.reference_date)
            started = time.perf_counter()
            engine.ask(q.question, filters=filters)
            asks.append((time.perf_counter() - started) * 1000)
        return {"n": len(questions), "ask_p50_ms": _pct(asks, 50), "ask_p95_ms": _pct(asks, 95),
                "search_p50_ms": _pct(searches, 50), "search_p95_ms": _pct(searches, 95)}

    def _after_one_article(self, settings: Settings) -> float:
        from rag.pipeline import Engine
        from rag.types import Filters

        engine = Engine(settings)
        question = "Who built the Zanzibar marmoset sanctuary?"
        engine.ask(question)  # warm
        stamp = time.strftime("%Y%m%d%H%M%S")
        probe = self.work / "probe.jsonl"
        probe.write_text(json.dumps({
            "id": f"bench-probe-{stamp}", "url": f"https://bench.example/probe/{stamp}", "title": "Sanctuary opens",
            "source": "bench.example", "published": "2022-06-15",
            "text": "The Zanzibar marmoset sanctuary opened on Tuesday. It was built by the Quarkwell "
                    "foundation, officials said.",
        }) + "\n")
        self._rag(settings, "ingest", str(probe), "--quiet")
        started = time.perf_counter()
        answer = engine.ask(question, filters=Filters(reference_date=date(2022, 6, 16)))
        seconds = time.perf_counter() - started
        if "Quarkwell" not in answer.text:
            print(f"  (the new article was not used: {answer.text[:100]!r})")
        self._rag(settings, "delete", "--id", f"bench-probe-{stamp}")
        return seconds

    def _rag(self, settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
        cli = [sys.executable, "-m", "ui.cli", "--data-dir", str(settings.data_dir), "--corpus", settings.corpus]
        return subprocess.run([*cli, *args], capture_output=True, text=True, check=True)

    def cold(self) -> Figures:
        store, corpus = (self.full_store, "full") if self.full_store else (self._ensure_small()[0], "small")
        settings = self._settings(store, corpus)
        times = []
        for question in ("Who is the defence minister of Pakistan?", "How many people died in the floods?",
                         "Which company announced layoffs?"):
            started = time.perf_counter()
            self._rag(settings, "ask", question)
            times.append(time.perf_counter() - started)
        median = statistics.median(times)
        print(f"rag ask, cold, corpus {corpus}: median {median:.2f} s of {', '.join(f'{t:.2f}' for t in times)} "
              "(target < 3 s)")
        return {"corpus": corpus, "median_s": median, "runs_s": times}

    def quality(self) -> Figures:
        from rag.embed import make_embedder
        from rag.store import ChunkStore

        store_dir, _ = self._ensure_small()
        gold = self._gold("realtimeqa-2022-small")
        texts = [text for _, text, _ in ChunkStore(self._settings(store_dir, "small")).iter_chunks()]
        out: Figures = {"chunks": len(texts)}
        for name, variant in (("torch", "torch"), ("default", "auto")):
            embedder = make_embedder(self._settings(self.work / "models", "bench", embed_variant=variant))
            started = time.perf_counter()
            matrix = np.asarray(embedder.get_text_embedding_batch(texts), dtype=np.float32)
            seconds = time.perf_counter() - started
            scores = score(gold, _exact_search(embedder.get_query_embedding, matrix, texts))
            out[name] = {"hit5": scores.hit_at[5], "within1024": scores.hit_within[1024], "embed_s": seconds}
            print(f"{name}: dense answer-hit@5 {scores.hit_at[5]:.3f}, within 1024 {scores.hit_within[1024]:.3f} "
                  f"({len(texts):,} chunks embedded in {seconds:.0f} s)")
        for key in ("hit5", "within1024"):
            out[f"{key}_delta"] = out["default"][key] - out["torch"][key]
        print(f"difference, default - torch: hit@5 {out['hit5_delta']:+.3f}, within 1024 "
              f"{out['within1024_delta']:+.3f} (target: each within 0.01)")
        return out

    def _gold(self, name: str) -> list[GoldQuestion]:
        questions = load_gold(self.data / name / "qa.jsonl")
        return [q for q in questions if q.answerable and q.answer_in_source is not False]


def _exact_search(
    embed: Callable[[str], list[float]], matrix: np.ndarray, texts: Sequence[str], k: int = 40
) -> Callable[[str], list[str]]:
    def retrieve(question: str) -> list[str]:
        sims = matrix @ np.asarray(embed(question), dtype=np.float32)
        return [texts[i] for i in np.argsort(-sims)[:k]]

    return retrieve


def _pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(np.asarray(values), q))


def _plot(points: Sequence[tuple[int, float, float, float]], path: Path) -> None:
    """Ask latency (p50, p95) and retrieval p50 against corpus size, log-scaled articles."""
    import matplotlib

    matplotlib.use("Agg")  # no display on a server
    import matplotlib.pyplot as plt

    articles = [p[0] for p in points]
    fig, ax = plt.subplots(figsize=(6.4, 4))
    ax.plot(articles, [p[1] for p in points], "o-", label="ask p50")
    ax.plot(articles, [p[2] for p in points], "s--", label="ask p95")
    ax.plot(articles, [p[3] for p in points], "^:", label="retrieval p50")
    ax.set_xscale("log")
    ax.set_xlabel("articles in the corpus")
    ax.set_ylabel("milliseconds (warm, extractive)")
    ax.set_title("Answer latency against corpus size")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    main()
