"""Benchmark the HTTP API as a portal sees it: time to the first streamed text and
to the verified answer, over server-sent events, for N gold questions.

Usage::

    rag --data-dir DIR --corpus C serve --port 8000 &
    python -m evals.bench_api --url http://127.0.0.1:8000 --gold ../shared/data/realtimeqa-2022-small/qa.jsonl -n 20

Questions are asked one after another (a warm-up question first, not counted),
so the figures are per-request latency, not throughput.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import httpx

from evals.gold import load_gold
from evals.metrics import percentile


def ask_timed(client: httpx.Client, question: str, question_date: str | None) -> tuple[float, float, str]:
    """(seconds to the first event with text, seconds to the answer event, answer status)."""
    body = {"question": question, "stream": True, "filters": {"reference_date": question_date}}
    started = time.perf_counter()
    first = None
    with client.stream("POST", "/api/ask", json=body) as resp:
        resp.raise_for_status()
        event = ""
        for line in resp.iter_lines():
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event in ("delta", "answer"):
                if first is None:
                    first = time.perf_counter() - started
                if event == "answer":
                    total = time.perf_counter() - started
                    return first, total, json.loads(line[6:])["status"]
            elif line.startswith("data: ") and event == "error":
                raise RuntimeError(json.loads(line[6:])["error"])
    raise RuntimeError("the stream ended without an answer")


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default="http://127.0.0.1:8000")
    ap.add_argument("--gold", type=Path, required=True)
    ap.add_argument("-n", type=int, default=20, help="questions (the first N of the gold set)")
    ap.add_argument("--key-env", default="RAG_API_KEYS", help="environment variable with an API key, if needed")
    args = ap.parse_args(argv)
    key = os.environ.get(args.key_env, "").split(",")[0].strip()
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    questions = load_gold(args.gold)[: args.n + 1]
    firsts, totals, statuses = [], [], []
    with httpx.Client(base_url=args.url, headers=headers, timeout=300) as client:
        ask_timed(client, questions[0].question, questions[0].question_date)  # warm-up: models load
        for q in questions[1:]:
            first, total, status = ask_timed(client, q.question, q.question_date)
            firsts.append(first)
            totals.append(total)
            statuses.append(status)
    print(f"{len(totals)} questions via {args.url}/api/ask (server-sent events)")
    for name, values in (("first streamed text", firsts), ("verified answer", totals)):
        p50, p95 = percentile(values, 0.5) or 0.0, percentile(values, 0.95) or 0.0
        print(f"  {name:20s} p50 {p50 * 1000:7.0f} ms   p95 {p95 * 1000:7.0f} ms"
              f"   mean {statistics.fmean(values) * 1000:7.0f} ms")
    print(f"  answered {statuses.count('answered')}, refused {len(statuses) - statuses.count('answered')}")


if __name__ == "__main__":
    main()
