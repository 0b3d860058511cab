"""A bounded load test of a running server, loopback only: concurrent clients ask gold
questions through ``/api/ask`` (JSON and streamed) and ``/v1/chat/completions`` for a fixed
time, with a request cap; it stops by itself.

Usage::

    rag --data-dir DIR --corpus C serve --port 8000 &
    python -m evals.load --url http://127.0.0.1:8000 --gold ../shared/data/realtimeqa-2022-small/qa.jsonl \
        [--clients 16] [--seconds 60] [--max-requests 5000] [--pid SERVER_PID]

Prints throughput, p50/p95/p99 latency per endpoint, 429s apart from errors, 5xx, requests
over 10 s, and (with ``--pid``) the server's memory before and after. Every client sends a
distinct ``X-Forwarded-For``: behind a server whose ``trusted_proxies`` lists 127.0.0.1 each
gets its own rate-limit budget, as users behind a portal's proxy do.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from evals.gold import load_gold
from evals.metrics import percentile

SLOW_S = 10.0


@dataclass
class Tally:
    """Outcomes of one endpoint."""

    seconds: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    failures: list[str] = field(default_factory=list)


async def _one(client: httpx.AsyncClient, kind: str, question: str, day: str | None, user: str) -> int:
    headers = {"X-Forwarded-For": user}
    if kind == "ask":
        res = await client.post("/api/ask", json={"question": question, "filters": {"reference_date": day}},
                                headers=headers)
        return res.status_code
    if kind == "ask-stream":
        async with client.stream("POST", "/api/ask", headers=headers,
                                 json={"question": question, "stream": True, "filters": {"reference_date": day}}) as res:
            async for line in res.aiter_lines():
                if line.startswith("event: error"):
                    return 599  # an error inside a stream counts as a server error
            return res.status_code
    res = await client.post("/v1/chat/completions", headers=headers,
                            json={"model": "newsrag", "messages": [{"role": "user", "content": question}]})
    return res.status_code


async def run(url: str, questions: list[tuple[str, str | None]], clients: int, seconds: float,
              max_requests: int) -> tuple[dict[str, Tally], float]:
    """Run the clients; returns the tallies and the wall time."""
    tallies: dict[str, Tally] = defaultdict(Tally)
    budget = [max_requests]
    deadline = time.monotonic() + seconds
    kinds = ("ask", "ask-stream", "chat-completions")

    async def client_loop(n: int) -> None:
        rng = random.Random(n)
        user = f"198.51.100.{n + 1}"
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            while time.monotonic() < deadline and budget[0] > 0:
                budget[0] -= 1
                kind = kinds[rng.randrange(len(kinds))]
                question, day = questions[rng.randrange(len(questions))]
                started = time.perf_counter()
                try:
                    status = await _one(client, kind, question, day, user)
                except httpx.HTTPError as exc:
                    status = 598
                    tallies[kind].failures.append(f"{type(exc).__name__}: {exc}")
                tallies[kind].seconds.append(time.perf_counter() - started)
                tallies[kind].statuses[status] += 1

    started = time.perf_counter()
    await asyncio.gather(*(client_loop(n) for n in range(clients)))
    return tallies, time.perf_counter() - started


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main(argv: list[str] | None = None) -> None:
    """Run the load test and print its figures."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", required=True)
    ap.add_argument("--gold", required=True)
    ap.add_argument("--clients", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--max-requests", type=int, default=5000)
    ap.add_argument("--pid", type=int, help="the server's process id, for its memory before and after")
    ap.add_argument("--json", dest="out", type=Path, help="also write the figures here")
    args = ap.parse_args(argv)
    if urlsplit(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        ap.error("the load test only runs against a server on loopback")
    questions = [(q.question, q.question_date) for q in load_gold(args.gold)]
    # Warm-up, not counted: the memory "before" is a server with its models loaded.
    asyncio.run(run(args.url, questions[:3], 3, 30, 3))
    before = rss_mb(args.pid) if args.pid else None
    tallies, wall = asyncio.run(run(args.url, questions, args.clients, min(args.seconds, 600), args.max_requests))
    after = rss_mb(args.pid) if args.pid else None
    total = sum(len(t.seconds) for t in tallies.values())
    figures: dict[str, object] = {"clients": args.clients, "seconds": round(wall, 1), "requests": total,
                                  "throughput_rps": round(total / wall, 2)}
    print(f"{args.clients} clients, {wall:.0f} s, {total} requests: {total / wall:.2f} requests/s")
    for kind, t in sorted(tallies.items()):
        ok = t.statuses.get(200, 0)
        limited = t.statuses.get(429, 0)
        errors = sum(n for s, n in t.statuses.items() if s >= 500)
        other = sum(t.statuses.values()) - ok - limited - errors
        slow = sum(1 for s in t.seconds if s > SLOW_S)
        p = {q: percentile(t.seconds, q / 100) for q in (50, 95, 99)}
        print(f"  {kind}: {len(t.seconds)} requests, {ok} ok, {limited} rate-limited (429), {errors} server errors, "
              f"{other} other 4xx, {slow} over {SLOW_S:.0f} s; p50 {p[50]:.2f} s, p95 {p[95]:.2f} s, p99 {p[99]:.2f} s")
        for failure in t.failures[:3]:
            print(f"    {failure}")
        figures[kind] = {"requests": len(t.seconds), "ok": ok, "rate_limited": limited, "server_errors": errors,
                         "other_4xx": other, "over_10s": slow, "p50_s": p[50], "p95_s": p[95], "p99_s": p[99]}
    if before is not None and after is not None:
        print(f"server memory: {before:.0f} MB before, {after:.0f} MB after ({after / before - 1:+.1%})")
        figures["rss_mb"] = {"before": before, "after": after}
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
