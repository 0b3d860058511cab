"""A bounded load test of a running server, loopback only: concurrent clients ask gold
questions through ``/api/ask`` (JSON and streamed) and ``/v1/chat/completions`` for a fixed
time, with a request cap; it stops by itself.

Usage::

    rag --data-dir DIR --corpus C serve --port 8000 &
    python -m evals.load --url http://127.0.0.1:8000 --gold ../shared/data/realtimeqa-2022-small/qa.jsonl \
        [--clients 16] [--seconds 60] [--max-requests 5000] [--pid SERVER_PID] \
        [--slow-clients 1] [--idle-connections 200] [--ingest 4 | --ingest-file NEW.jsonl]

Prints throughput, p50/p95/p99 latency per endpoint, 429s apart from errors, 5xx, requests
over 10 s, and (with ``--pid``) the server's memory before and after. Every client sends a
distinct ``X-Forwarded-For``: behind a server whose ``trusted_proxies`` lists 127.0.0.1 each
gets its own rate-limit budget, as users behind a portal's proxy do.

Before the load, ``--check`` gold questions are asked one at a time: their answers are the
reference that the answers under load are compared with (same text, gold answer contained).

Stress, from ``--stress-after`` seconds on (default: half-way, so one run measures the clients
without and with it; the figures of both halves and their ratios are printed):

- ``--slow-clients N``: each asks one streamed ``/api/ask`` over a raw socket with a small
  receive buffer and reads the answer one byte a second; at the end it reads the rest at once
  and reports whether the answer was whole, and when the server closed its side;
- ``--idle-connections N``: sockets that connect and send nothing, half a request line, or
  headers without their end; reports which ones the server closed, and after how long;
- ``--ingest N`` (built-in articles about made-up events) or ``--ingest-file FILE`` (JSONL
  articles; a record's optional ``question`` and ``answer`` are asked after the ingest): posted
  to ``POST /api/ingest`` one at a time while the clients ask; then each question is asked and
  searched (its answer must cite the new article), the regular answers before, during and after
  the ingest are compared with the reference, and the articles are deleted again unless
  ``--keep-ingested``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from evals.gold import GoldQuestion, load_gold
from evals.load_ingest import (
    BUILTIN_ARTICLES,
    CHECK_USER,
    builtin_articles,
    delete_articles,
    ingest_during,
    read_articles,
    search_new,
)
from evals.load_sockets import (
    PARTIALS,
    SLOW_S,
    Probe,
    fresh_connections,
    monitor,
    open_idle,
    server_sample,
    slow_client,
)
from evals.metrics import contains_answer, percentile

KINDS = ("ask", "ask-stream", "chat-completions")
LOOPBACK = ("127.0.0.1", "localhost", "::1")

@dataclass
class Outcome:
    """One request of a load client."""

    kind: str
    qid: str
    started: float  # seconds since the load started
    ended: float
    status: int
    text: str | None = None  # the answer's text (ask, ask-stream) or the message (chat-completions)
    failure: str = ""

    @property
    def seconds(self) -> float:
        return self.ended - self.started


@dataclass
class LoadConfig:
    """What to run: the clients, and the stress applied from ``stress_after`` seconds on."""

    url: str
    questions: Sequence[GoldQuestion]
    clients: int = 16
    seconds: float = 60
    max_requests: int = 5000
    pid: int | None = None
    check: int = 30
    slow_clients: int = 0
    idle_connections: int = 0
    ingest: Sequence[dict[str, Any]] = ()
    keep_ingested: bool = False
    stress_after: float | None = None  # None: half-way when there is stress, else never
    warm_up: bool = True

    @property
    def stressed(self) -> bool:
        return bool(self.slow_clients or self.idle_connections or self.ingest)


# ---------------------------------------------------------------------------------------------
# The load clients


def _answer_text(data: dict[str, Any]) -> str:
    return str(data.get("text") or "")


async def _one(client: httpx.AsyncClient, kind: str, q: GoldQuestion, user: str) -> tuple[int, str | None]:
    headers = {"X-Forwarded-For": user}
    day = q.question_date
    if kind == "ask":
        res = await client.post("/api/ask", json={"question": q.question, "filters": {"reference_date": day}},
                                headers=headers)
        return res.status_code, _answer_text(res.json()) if res.status_code == 200 else None
    if kind == "ask-stream":
        text, event = None, ""
        async with client.stream("POST", "/api/ask", headers=headers,
                                 json={"question": q.question, "stream": True,
                                       "filters": {"reference_date": day}}) as res:
            async for line in res.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:].strip()
                    if event == "error":
                        return 599, None  # an error inside a stream counts as a server error
                elif line.startswith("data: ") and event == "answer":
                    text = _answer_text(json.loads(line[6:]))
            return res.status_code, text
    res = await client.post("/v1/chat/completions", headers=headers,
                            json={"model": "newsrag", "messages": [{"role": "user", "content": q.question}]})
    if res.status_code != 200:
        return res.status_code, None
    return res.status_code, str(res.json()["choices"][0]["message"]["content"] or "")


async def _clients(url: str, questions: Sequence[GoldQuestion], clients: int, t0: float, deadline: float,
                   max_requests: int) -> list[Outcome]:
    out: list[Outcome] = []
    budget = [max_requests]

    async def client_loop(n: int) -> None:
        rng = random.Random(n)
        user = f"198.51.100.{n + 1}"
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            while time.monotonic() < deadline and budget[0] > 0:
                budget[0] -= 1
                kind = KINDS[rng.randrange(len(KINDS))]
                q = questions[rng.randrange(len(questions))]
                started = time.monotonic()
                failure, text = "", None
                try:
                    status, text = await _one(client, kind, q, user)
                except httpx.HTTPError as exc:
                    status, failure = 598, f"{type(exc).__name__}: {exc}".rstrip(": ")
                except (ValueError, KeyError, IndexError) as exc:  # a 200 whose body is not the answer's shape
                    status, failure = 597, f"unreadable answer: {type(exc).__name__}: {exc}"
                out.append(Outcome(kind, q.id, started - t0, time.monotonic() - t0, status, text, failure))

    await asyncio.gather(*(client_loop(n) for n in range(clients)))
    return out


async def _reference(url: str, questions: Sequence[GoldQuestion]) -> dict[str, str]:
    """The answers to ``questions`` asked one at a time before the load (JSON ``/api/ask``)."""
    out: dict[str, str] = {}
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        for q in questions:
            status, text = await _one(client, "ask", q, CHECK_USER)
            if status == 200 and text is not None:
                out[q.id] = text
    return out


# ---------------------------------------------------------------------------------------------
# The run and its figures


def rss_mb(pid: int) -> float:
    """Resident memory of a process, in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def stats(outcomes: Sequence[Outcome]) -> dict[str, Any]:
    """Counts by status class, requests over 10 s, and latency percentiles."""
    statuses = [o.status for o in outcomes]
    ok = statuses.count(200)
    limited = statuses.count(429)
    errors = sum(1 for s in statuses if s >= 500)
    seconds = [o.seconds for o in outcomes]
    p = {q: percentile(seconds, q / 100) for q in (50, 95, 99)}
    return {"requests": len(outcomes), "ok": ok, "rate_limited": limited, "server_errors": errors,
            "other_4xx": len(outcomes) - ok - limited - errors, "over_10s": sum(1 for s in seconds if s > SLOW_S),
            "max_s": max(seconds, default=None), "p50_s": p[50], "p95_s": p[95], "p99_s": p[99],
            "failures": [o.failure for o in outcomes if o.failure][:3]}


def _correctness(outcomes: Sequence[Outcome], gold: dict[str, GoldQuestion],
                 reference: dict[str, str]) -> dict[str, Any]:
    """Of the answers received: how many hold the gold answer, and how many equal the reference."""
    contains = [o for o in outcomes if o.text is not None and gold[o.qid].answerable and gold[o.qid].answers]
    compared = [o for o in outcomes if o.text is not None and o.kind != "chat-completions" and o.qid in reference]
    same = sum(1 for o in compared if o.text == reference[o.qid])
    return {"answers": sum(1 for o in outcomes if o.text is not None),
            "answerable": len(contains),
            "contains_gold": sum(1 for o in contains
                                 if any(contains_answer(o.text or "", a) for a in gold[o.qid].answers)),
            "compared_with_reference": len(compared), "same_as_reference": same,
            "differing": sorted({o.qid for o in compared if o.text != reference[o.qid]})[:10]}


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 2) if a is not None and b else None


async def _run(cfg: LoadConfig) -> dict[str, Any]:
    split = urlsplit(cfg.url)
    host, port = split.hostname or "127.0.0.1", split.port or 80
    gold = {q.id: q for q in cfg.questions}
    if cfg.warm_up:  # not counted: the memory "before" is a server with its models loaded
        await _clients(cfg.url, cfg.questions[:3], 3, time.monotonic(), time.monotonic() + 30, 3)
    checked = random.Random(0).sample(list(cfg.questions), min(cfg.check, len(cfg.questions)))
    reference = await _reference(cfg.url, checked)
    found_before = await search_new(cfg.url, cfg.ingest) if cfg.ingest else []
    before = rss_mb(cfg.pid) if cfg.pid else None

    seconds = min(cfg.seconds, 600)
    stress_at = (seconds / 2 if cfg.stress_after is None else cfg.stress_after) if cfg.stressed else seconds
    t0 = time.monotonic()
    deadline = t0 + seconds
    probe = Probe()

    async def stress() -> None:
        await asyncio.sleep(max(0.0, t0 + stress_at - time.monotonic()))
        idle = await open_idle(host, port, cfg.idle_connections, t0) if cfg.idle_connections else []
        probe.idle = idle
        slow_questions = [q for q in cfg.questions if q.answerable] or list(cfg.questions)
        probe.slow = [{"n": i} for i in range(cfg.slow_clients)]
        slow_tasks = [asyncio.ensure_future(slow_client(host, port, slow_questions[i % len(slow_questions)],
                                                         f"198.51.100.{200 + i}", t0, deadline, info))
                      for i, info in enumerate(probe.slow)]
        ingest_at = stress_at + (seconds - stress_at) / 4
        jobs = [monitor(probe, probe.slow, port, idle, cfg.pid, t0, stress_at, deadline)]
        if cfg.ingest:
            jobs.append(ingest_during(cfg.url, cfg.ingest, t0, ingest_at))
        results = await asyncio.gather(*jobs)
        if cfg.ingest:
            probe.ingest = results[1]
        await asyncio.gather(*slow_tasks)
        for c in idle:
            c.pop("sock").close()

    async def baseline_monitor() -> None:  # fds and threads before the stress starts
        while cfg.pid and time.monotonic() < t0 + stress_at:
            try:
                probe.server.setdefault("baseline", []).append((time.monotonic() - t0, *server_sample(cfg.pid)))
            except OSError:
                return
            await asyncio.sleep(0.5)

    jobs = [_clients(cfg.url, cfg.questions, cfg.clients, t0, deadline, cfg.max_requests), baseline_monitor(),
            fresh_connections(cfg.url, t0, deadline)]
    if cfg.stressed:
        jobs.append(stress())
    results = await asyncio.gather(*jobs)
    outcomes: list[Outcome] = results[0]
    fresh: list[tuple[float, float, str]] = results[2]
    wall = max([time.monotonic() - t0, *(o.ended for o in outcomes)])
    figures: dict[str, Any] = {"clients": cfg.clients, "seconds": round(wall, 1), "requests": len(outcomes),
                               "throughput_rps": round(len(outcomes) / wall, 2)}
    for kind in KINDS:
        figures[kind] = stats([o for o in outcomes if o.kind == kind])
    figures["all"] = stats(outcomes)
    figures["correctness"] = _correctness(outcomes, gold, reference)
    figures["new_connections"] = {"all": _fresh_summary(fresh)}
    figures["reference_questions"] = len(reference)

    if cfg.stressed:
        phases = {"baseline": [o for o in outcomes if o.started < stress_at],
                  "stressed": [o for o in outcomes if o.started >= stress_at]}
        spans = {"baseline": stress_at, "stressed": wall - stress_at}
        figures["stress_after_s"] = stress_at
        figures["phases"] = {}
        for name, group in phases.items():
            figures["phases"][name] = {"seconds": round(spans[name], 1), "requests": len(group),
                                       "throughput_rps": round(len(group) / spans[name], 2) if spans[name] else None,
                                       "all": stats(group),
                                       **{k: stats([o for o in group if o.kind == k]) for k in KINDS}}
        b, s = figures["phases"]["baseline"], figures["phases"]["stressed"]
        figures["new_connections"] = {"baseline": _fresh_summary([f for f in fresh if f[0] < stress_at]),
                                      "stressed": _fresh_summary([f for f in fresh if f[0] >= stress_at])}
        figures["ratios_stressed_to_baseline"] = {
            "throughput": _ratio(s["throughput_rps"], b["throughput_rps"]),
            **{q: _ratio(s["all"][f"{q}_s"], b["all"][f"{q}_s"]) for q in ("p50", "p95", "p99")}}
    if cfg.slow_clients:
        figures["slow_clients"] = probe.slow
    if cfg.idle_connections:
        figures["idle_connections"] = _idle_summary(probe.idle, wall)
    if cfg.pid and probe.server.get("baseline"):
        figures["server_resources"] = {
            name: {"fds_max": max(s[1] for s in samples), "threads_max": max(s[2] for s in samples)}
            for name, samples in probe.server.items() if name in ("baseline", "stressed") and samples}
        figures["server_resources"]["open_files_limit"] = _nofile_limit(cfg.pid)
    if cfg.ingest:
        ing = probe.ingest
        figures["ingest"] = _ingest_summary(ing, found_before)
        t_start, t_end = ing.get("started_s", wall), ing.get("ended_s", wall)
        windows = {"before": [o for o in outcomes if o.ended < t_start],
                   "during": [o for o in outcomes if o.started < t_end and o.ended >= t_start],
                   "after": [o for o in outcomes if o.started >= t_end]}
        figures["correctness_by_ingest"] = {name: _correctness(group, gold, reference)
                                            for name, group in windows.items()}
        figures["latency_by_ingest"] = {name: stats(group) for name, group in windows.items()}
        if not cfg.keep_ingested:
            figures["ingest"]["cleanup"] = await delete_articles(cfg.url, cfg.ingest)
    if before is not None and cfg.pid:
        figures["rss_mb"] = {"before": before, "after": rss_mb(cfg.pid)}
    return figures


def _fresh_summary(fresh: list[tuple[float, float, str]]) -> dict[str, Any]:
    seconds = [f[1] for f in fresh if not f[2]]
    return {"tried": len(fresh), "failed": sum(1 for f in fresh if f[2]), "failures": [f[2] for f in fresh if f[2]][:3],
            "p50_s": percentile(seconds, 0.5), "max_s": max(seconds, default=None)}


def _nofile_limit(pid: int) -> int | None:
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max open files"):
            return int(line.split()[3])
    return None


def _idle_summary(idle: list[dict[str, Any]], wall: float) -> dict[str, Any]:
    out: dict[str, Any] = {"asked": len(idle), "connected": sum(1 for c in idle if "opened" in c),
                           "connect_failed": [c["failed"] for c in idle if "failed" in c][:3]}
    for kind in PARTIALS:
        group = [c for c in idle if c["kind"] == kind and "opened" in c]
        ended = [c for c in group if "ended" in c]
        after = [c["after_s"] for c in ended]
        out[kind] = {"connected": len(group), "closed_by_server": sum(1 for c in ended if c["ended"] == "closed"),
                     "reset": sum(1 for c in ended if c["ended"] == "reset"),
                     "answered": sorted({c.get("detail", "") for c in ended if c["ended"] == "answered"}),
                     "answered_n": sum(1 for c in ended if c["ended"] == "answered"),
                     "open_at_end": len(group) - len(ended),
                     "held_s": round(wall - min((c["opened"] for c in group), default=wall), 1),
                     "ended_after_s": (round(min(after), 1), round(statistics.median(after), 1), round(max(after), 1))
                     if after else None}
    return out


def _ingest_summary(ing: dict[str, Any], found_before: list[bool]) -> dict[str, Any]:
    posts = ing.get("posts", [])
    after = ing.get("after", [])
    return {"articles": len(posts), "found_before": sum(found_before),
            "posted_ok": sum(1 for p in posts if p["status"] == 200),
            "added": sum(p.get("added") or 0 for p in posts), "unchanged": sum(p.get("unchanged") or 0 for p in posts),
            "chunks": sum(p.get("chunks") or 0 for p in posts),
            "post_seconds": [p["seconds"] for p in posts],
            "window_s": (round(ing.get("started_s", 0), 1), round(ing.get("ended_s", 0), 1)),
            "questions": len(after), "cited": sum(1 for a in after if a.get("cited")),
            "retrieved": sum(1 for a in after if a.get("retrieved")),
            "contains_answer": sum(1 for a in after if a.get("contains_answer")),
            "searchable": sum(1 for a in after if a.get("searchable")), "checks": after}


def run_load(cfg: LoadConfig) -> dict[str, Any]:
    """Run the load (and the stress the config asks for); returns the figures."""
    return asyncio.run(_run(cfg))


def _p(s: dict[str, Any]) -> str:
    def sec(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f} s"
    return f"p50 {sec(s['p50_s'])}, p95 {sec(s['p95_s'])}, p99 {sec(s['p99_s'])}"


def _line(name: str, s: dict[str, Any]) -> str:
    return (f"{name}: {s['requests']} requests, {s['ok']} ok, {s['rate_limited']} rate-limited (429), "
            f"{s['server_errors']} server errors, {s['other_4xx']} other 4xx, {s['over_10s']} over {SLOW_S:.0f} s; "
            + _p(s))


def _share(c: dict[str, Any]) -> str:
    same = f"{c['same_as_reference']}/{c['compared_with_reference']} as the reference"
    gold = f"{c['contains_gold']}/{c['answerable']} hold the gold answer"
    return f"{c['answers']} answers: {same}, {gold}"


def describe(figures: dict[str, Any], cfg: LoadConfig) -> list[str]:
    """The figures as the lines ``main`` prints."""
    out = [f"{figures['clients']} clients, {figures['seconds']:.0f} s, {figures['requests']} requests: "
           f"{figures['throughput_rps']:.2f} requests/s"]
    for kind in KINDS:
        if figures[kind]["requests"]:
            out.append("  " + _line(kind, figures[kind]))
            out += [f"    {f}" for f in figures[kind]["failures"]]
    out.append(f"answers under load ({figures['reference_questions']} reference questions asked one at a time "
               f"before): {_share(figures['correctness'])}")
    if "phases" in figures:
        b, s = figures["phases"]["baseline"], figures["phases"]["stressed"]
        stress = ", ".join(x for x in (cfg.slow_clients and f"{cfg.slow_clients} slow client(s)",
                                       cfg.idle_connections and f"{cfg.idle_connections} idle connections",
                                       cfg.ingest and f"an ingest of {len(cfg.ingest)} articles") if x)
        at = figures["stress_after_s"]
        out.append(f"without stress (0-{at:.0f} s): {b['throughput_rps']} requests/s; " + _line("all", b["all"]))
        out.append(f"with {stress} ({at:.0f}-{figures['seconds']:.0f} s): {s['throughput_rps']} requests/s; "
                   + _line("all", s["all"]))
        r = figures["ratios_stressed_to_baseline"]
        out.append(f"  with / without: throughput {r['throughput']}, p50 {r['p50']}, p95 {r['p95']}, p99 {r['p99']}")
    for name, fresh in figures["new_connections"].items():
        label = {"all": "during the run", "baseline": "without stress", "stressed": "with stress"}[name]
        p50 = "-" if fresh["p50_s"] is None else f"{fresh['p50_s']:.3f} s"
        top = "-" if fresh["max_s"] is None else f"{fresh['max_s']:.3f} s"
        out.append(f"new connections ({label}, GET /healthz once a second): {fresh['tried']} tried, "
                   f"{fresh['failed']} failed; p50 {p50}, max {top}"
                   + (f" ({'; '.join(fresh['failures'])})" if fresh["failures"] else ""))
    for info in figures.get("slow_clients", []):
        parts = [f"slow client {info['n']}: asked at {info.get('started_s', '?')} s"]
        if "failed" in info or "reset" in info:
            parts.append(f"failed: {info.get('failed') or info.get('reset')}")
        if "first_byte_s" in info:
            parts.append(f"first byte after {info['first_byte_s']} s")
        parts.append(f"read {info.get('read_slowly_bytes', 0)} bytes one a second in {info.get('read_slowly_s', 0)} s")
        if "queued_at_client_bytes" in info:
            parts.append(f"{info['queued_at_client_bytes']} more waiting in its receive buffer")
        if "server_send_queue_max" in info:
            parts.append(f"the server's send queue at most {info['server_send_queue_max']} bytes")
        if "server_closed_at_s" in info:
            parts.append(f"the server closed its side at {info['server_closed_at_s']} s ({info['server_state']})")
        elif "server_send_queue_max" in info:
            parts.append("the server's side still open when the load ended")
        parts.append(f"then read at once: {info.get('total_bytes', 0)} bytes in all ({info.get('status', '')}), "
                     f"whole answer: {'yes' if info.get('whole') else 'NO'}, "
                     f"EOF from the server: {'yes' if info.get('server_closed') else 'no'}")
        out.append("; ".join(parts))
    if "idle_connections" in figures:
        idle = figures["idle_connections"]
        out.append(f"idle connections: {idle['connected']} of {idle['asked']} connected"
                   + (f" ({idle['connect_failed']})" if idle["connect_failed"] else ""))
        for kind in PARTIALS:
            k = idle[kind]
            ended = f", ended after {k['ended_after_s']} s (min, median, max)" if k["ended_after_s"] else ""
            answered = f", answered {k['answered_n']} ({'; '.join(k['answered'])})" if k["answered_n"] else ""
            out.append(f"  {kind}: {k['connected']}: closed by the server {k['closed_by_server']}, reset {k['reset']}"
                       f"{answered}{ended}; open at the end {k['open_at_end']} (held {k['held_s']} s)")
    if "server_resources" in figures:
        res = figures["server_resources"]
        names = {"baseline": "without stress" if "phases" in figures else "during the run", "stressed": "with stress"}
        out.append("server: " + "; ".join(f"{names[name]}: at most {v['fds_max']} open fds, {v['threads_max']} threads"
                                          for name, v in res.items() if isinstance(v, dict))
                   + f"; open-files limit {res['open_files_limit']}")
    if "ingest" in figures:
        ing = figures["ingest"]
        start, end = ing["window_s"]
        out.append(f"ingest: {ing['articles']} articles posted one at a time at {start}-{end} s "
                   f"({', '.join(f'{x:.2f}' for x in ing['post_seconds'])} s each): {ing['posted_ok']} ok, "
                   f"{ing['added']} added, {ing['unchanged']} unchanged, {ing['chunks']} chunks; "
                   f"found by a search before: {ing['found_before']}")
        out.append(f"  then, under load: {ing['questions']} questions about them, cited {ing['cited']}, "
                   f"answer contains the gold {ing['contains_answer']}, in the search's top 5 {ing['searchable']}")
        if "cleanup" in ing:
            out.append(f"  deleted again: {ing['cleanup']}")
        for name, c in figures["correctness_by_ingest"].items():
            lat = figures["latency_by_ingest"][name]
            out.append(f"  {name} the ingest: {_share(c)}; {lat['requests']} requests, {lat['server_errors']} server "
                       f"errors, {_p(lat)}")
    if "rss_mb" in figures:
        before, after = figures["rss_mb"]["before"], figures["rss_mb"]["after"]
        out.append(f"server memory: {before:.0f} MB before, {after:.0f} MB after ({after / before - 1:+.1%})")
    return out


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
    ap.add_argument("--check", type=int, default=30, help="reference questions asked one at a time before the load")
    ap.add_argument("--slow-clients", type=int, default=0, help="clients that read a streamed answer 1 byte/s")
    ap.add_argument("--idle-connections", type=int, default=0, help="connections that send nothing or half a request")
    ap.add_argument("--ingest", type=int, default=0, help=f"built-in articles to ingest during the load "
                                                          f"(at most {len(BUILTIN_ARTICLES)})")
    ap.add_argument("--ingest-file", type=Path,
                    help="JSONL articles to ingest during the load instead (text, url, title, published; "
                         "an id, to delete them afterwards; a question and answer, to check them)")
    ap.add_argument("--keep-ingested", action="store_true", help="do not delete the ingested articles afterwards")
    ap.add_argument("--stress-after", type=float, help="seconds before the stress starts (default: half the run)")
    args = ap.parse_args(argv)
    if urlsplit(args.url).hostname not in LOOPBACK:
        ap.error("the load test only runs against a server on loopback")
    if args.slow_clients > 16 or args.idle_connections > 1000:
        ap.error("at most 16 slow clients and 1000 idle connections")
    try:
        articles = read_articles(args.ingest_file) if args.ingest_file else builtin_articles(args.ingest)
    except ValueError as exc:
        ap.error(str(exc))
    cfg = LoadConfig(url=args.url, questions=load_gold(args.gold), clients=args.clients, seconds=args.seconds,
                     max_requests=args.max_requests, pid=args.pid, check=args.check, slow_clients=args.slow_clients,
                     idle_connections=args.idle_connections, ingest=articles, keep_ingested=args.keep_ingested,
                     stress_after=args.stress_after)
    figures = run_load(cfg)
    print("\n".join(describe(figures, cfg)))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=1, default=str))


if __name__ == "__main__":
    main()
