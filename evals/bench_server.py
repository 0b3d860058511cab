"""Embedded store vs a Chroma server, in one run: ingest throughput, ask latency and
the eval figures (which must be the same).

Usage::

    python -m evals.bench_server --data-dir STORE --corpus C \\
        --articles ../shared/data/realtimeqa-2022-small/articles.jsonl \\
        --gold ../shared/data/realtimeqa-2022-small/qa.jsonl

Starts ``chroma run`` on loopback in a temporary directory, then:

1. ingests the first ``--ingest-articles`` articles into a fresh embedded store and
   into the server, with one warm embedder (throughput of each);
2. copies corpus C of STORE to the server without re-embedding (``rag migrate``) and
   runs the gold set through both (``rag eval`` figures, latency p50/p95), and
   prints every metric side by side with the largest difference.
"""

from __future__ import annotations

import argparse
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from evals.gold import load_gold
from evals.judge import OfflineJudge
from evals.report import fmt
from evals.run import run, summarize
from index.ingest import ingest
from rag.embed import make_embedder
from rag.pipeline import Engine
from rag.settings import Settings, load_settings
from rag.store import ChunkStore


def free_port() -> int:
    """A TCP port free on loopback right now (for servers started by benchmarks and tests)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_chroma(path: Path, port: int, log: Path | None = None) -> subprocess.Popen[bytes]:
    """`chroma run` (from the chromadb package) on loopback, once its heartbeat answers."""
    binary = shutil.which("chroma") or str(Path(sys.executable).with_name("chroma"))
    out = log.open("a") if log else subprocess.DEVNULL
    proc = subprocess.Popen([binary, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(port)],
                            stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v2/heartbeat", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"chroma run did not start{': ' + log.read_text()[-2000:] if log else ''}")


def _ingest_rate(articles: Path, settings: Settings, embedder: object) -> tuple[float, float, int]:
    report = ingest([articles], settings, embedder=embedder)  # type: ignore[arg-type]
    return report.articles_seen / report.seconds, report.chunks_written / report.seconds, report.chunks_written


def main(argv: list[str] | None = None) -> None:
    """Run the comparison and print its figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data-dir", required=True, type=Path, help="embedded store holding --corpus")
    ap.add_argument("--corpus", required=True)
    ap.add_argument("--articles", required=True, type=Path)
    ap.add_argument("--gold", required=True, type=Path)
    ap.add_argument("--ingest-articles", type=int, default=100)
    args = ap.parse_args(argv)
    embedded = load_settings(data_dir=args.data_dir, corpus=args.corpus)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        port = free_port()
        chroma = start_chroma(tmp / "server", port)
        try:
            served = embedded.model_copy(update={"chroma_host": "127.0.0.1", "chroma_port": port,
                                                 "data_dir": tmp / "replica"})
            embedder = make_embedder(embedded)
            embedder.get_text_embedding("warm up")

            subset = tmp / "subset.jsonl"
            with args.articles.open(encoding="utf-8") as src:
                subset.write_text("".join(line for _, line in zip(range(args.ingest_articles), src)), encoding="utf-8")
            fresh = embedded.model_copy(update={"data_dir": tmp / "fresh", "corpus": "ingest-bench"})
            emb_rate = _ingest_rate(subset, fresh, embedder)
            srv_rate = _ingest_rate(subset, served.model_copy(update={"corpus": "ingest-bench"}), embedder)
            print(f"Ingest of {args.ingest_articles} articles ({emb_rate[2]} chunks), same warm embedder:")
            print(f"  embedded  {emb_rate[0]:6.2f} articles/s  {emb_rate[1]:6.1f} chunks/s")
            print(f"  server    {srv_rate[0]:6.2f} articles/s  {srv_rate[1]:6.1f} chunks/s"
                  f"   (server/embedded {srv_rate[1] / emb_rate[1]:.2f})")

            started = time.perf_counter()
            copied = ChunkStore(embedded).copy_to(ChunkStore(served))
            print(f"Copied {copied:,} chunks of '{args.corpus}' to the server in {time.perf_counter() - started:.1f} s")

            questions = load_gold(args.gold)
            summaries = {}
            for name, settings in (("embedded", embedded), ("server", served)):
                engine = Engine(settings, embedder=embedder)
                engine.ask(questions[0].question)  # warm: BM25 index, caches
                summaries[name] = summarize(run(questions, engine, OfflineJudge()))
        finally:
            chroma.terminate()
            chroma.wait(timeout=30)

    a, b = summaries["embedded"], summaries["server"]
    print(f"\nEval of {len(questions)} questions: metric, embedded, server")
    worst = 0.0
    for name in a["metrics"]:
        x, y = a["metrics"][name]["mean"], b["metrics"].get(name, {}).get("mean", float("nan"))
        worst = max(worst, abs(x - y))
        print(f"  {name:20s} {x:.3f}  {y:.3f}")
    for key in ("precision", "recall", "false_refusal_rate"):
        x, y = a["refusal"][key], b["refusal"][key]
        worst = max(worst, abs((x or 0) - (y or 0)))
        print(f"  refusal {key:12s} {fmt(x)}  {fmt(y)}")  # n/a when nothing was refused
    print(f"  largest difference: {worst:.4f}")
    print("Ask latency (ms):   p50 / p95")
    for name, s in summaries.items():
        print(f"  {name:9s}         {s['latency_ms']['p50']:.0f} / {s['latency_ms']['p95']:.0f}")
    same = sum(a["per_question"][q] == b["per_question"][q] for q in a["per_question"])
    print(f"Questions with identical per-question metrics: {same}/{len(a['per_question'])}")


if __name__ == "__main__":
    main()
