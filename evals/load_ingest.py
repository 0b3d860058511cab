"""The load test's ingest under load (:mod:`evals.load`): new articles posted to
``/api/ingest`` while the clients ask, then their questions asked and searched (the answer must
cite the new article), and the articles deleted again."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx

from evals.metrics import contains_answer

CHECK_USER = "198.51.100.250"  # the reference questions, the ingest and its checks

# Articles about made-up events, so that no corpus answers their questions before the ingest.
BUILTIN_ARTICLES: tuple[dict[str, str], ...] = (
    {
        "id": "loadtest-ferry", "url": "https://loadtest.example/2026/03/kestrel-bay-ferry",
        "title": "Kestrel Bay's first electric ferry enters service", "published": "2026-03-12",
        "text": "The harbour town of Kestrel Bay put its first electric ferry into service on Thursday. "
                "The ferry, named Aurelia Wren, carries up to 240 passengers across the bay in 18 minutes "
                "and charges at the pier while passengers board.\n"
                "The town council appointed Maren Oduya, a former harbour pilot, to lead the new ferry "
                "service. Oduya said the crossing would run every half hour from April and that fares "
                "would stay at the price of the old diesel boat.\n"
                "The council paid 11 million euros for the vessel, which was built at a yard in the north "
                "of the country over two years.",
        "question": "Who was appointed to lead Kestrel Bay's new electric ferry service?",
        "answer": "Maren Oduya",
    },
    {
        "id": "loadtest-telescope", "url": "https://loadtest.example/2026/03/halvard-ridge-telescope",
        "title": "Halvard Ridge Observatory names its new telescope", "published": "2026-03-14",
        "text": "The Halvard Ridge Observatory unveiled its new four-metre telescope on Saturday and named "
                "it after the astronomer Ilse Brandvold, who catalogued more than 3,000 variable stars "
                "from the ridge in the 1960s.\n"
                "The telescope will survey the southern sky for near-Earth asteroids, the observatory's "
                "director said, and share its images with schools in the region every night.\n"
                "Construction took five years and was delayed twice by winter storms that closed the "
                "mountain road.",
        "question": "Which astronomer is the Halvard Ridge Observatory's new telescope named after?",
        "answer": "Ilse Brandvold",
    },
    {
        "id": "loadtest-apple", "url": "https://loadtest.example/2026/03/tessaly-valley-apple",
        "title": "Tessaly Valley growers harvest a new apple", "published": "2026-03-16",
        "text": "Fruit growers in the Tessaly Valley harvested the first crop of a new apple variety "
                "called Copper Lantern this week, after twelve years of breeding at the valley's "
                "agricultural college.\n"
                "The apple keeps for seven months in cold storage without losing its crunch, the "
                "college's lead breeder said, which lets growers sell it into the summer.\n"
                "Forty farms have planted the variety so far, and the growers' cooperative expects "
                "the first supermarket sales in the autumn.",
        "question": "What is the name of the new apple variety harvested in the Tessaly Valley?",
        "answer": "Copper Lantern",
    },
    {
        "id": "loadtest-chess", "url": "https://loadtest.example/2026/03/northbridge-open-chess",
        "title": "Twelve-year-old wins the Northbridge Open", "published": "2026-03-18",
        "text": "Pavo Lindqvist, a twelve-year-old schoolboy, won the Northbridge Open chess tournament "
                "on Sunday, beating three grandmasters on his way to the title.\n"
                "Lindqvist finished with seven points from nine games and clinched first place with a "
                "draw in the last round, the organisers said. He is the youngest winner in the "
                "tournament's forty-year history.\n"
                "The prize of 5,000 euros will pay for his travel to junior championships abroad, "
                "his coach said.",
        "question": "Who won the Northbridge Open chess tournament?",
        "answer": "Pavo Lindqvist",
    },
)


def _cited_urls(answer: dict[str, Any]) -> tuple[set[str], set[str]]:
    cited = {c["passage"]["url"] for c in answer.get("citations", [])}
    retrieved = {p["url"] for p in answer.get("passages", [])}
    return cited, retrieved


def _article_payload(article: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in article.items() if k not in ("question", "answer")}


async def _ask_new(client: httpx.AsyncClient, article: dict[str, Any]) -> dict[str, Any]:
    """Ask an ingested article's question and search for it: is the article cited and found?"""
    day = str(article.get("published", ""))[:10] or None
    started = time.monotonic()
    res = await client.post("/api/ask", headers={"X-Forwarded-For": CHECK_USER},
                            json={"question": article["question"], "filters": {"reference_date": day}})
    out: dict[str, Any] = {"id": article.get("id"), "ask_status": res.status_code,
                           "ask_s": round(time.monotonic() - started, 2)}
    if res.status_code == 200:
        answer = res.json()
        cited, retrieved = _cited_urls(answer)
        out.update(cited=article["url"] in cited, retrieved=article["url"] in retrieved,
                   contains_answer=bool(article.get("answer")) and contains_answer(answer["text"], article["answer"]),
                   answer=answer["text"][:300])
    found = await client.get("/api/search", params={"q": article["question"], "k": 5},
                             headers={"X-Forwarded-For": CHECK_USER})
    out["search_status"] = found.status_code
    if found.status_code == 200:
        out["searchable"] = article["url"] in {p["url"] for p in found.json()["passages"]}
    return out


async def ingest_during(url: str, articles: Sequence[dict[str, Any]], t0: float, at: float) -> dict[str, Any]:
    """At ``at`` seconds, post the articles one at a time; then ask and search their questions."""
    await asyncio.sleep(max(0.0, t0 + at - time.monotonic()))
    out: dict[str, Any] = {"posts": []}
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        out["started_s"] = time.monotonic() - t0
        for article in articles:
            started = time.monotonic()
            try:
                res = await client.post("/api/ingest", json={"articles": [_article_payload(article)]},
                                        headers={"X-Forwarded-For": CHECK_USER})
                body = res.json() if res.headers.get("content-type", "").startswith("application/json") else {}
                out["posts"].append({"id": article.get("id"), "status": res.status_code,
                                     "seconds": round(time.monotonic() - started, 2),
                                     **{k: body.get(k) for k in ("added", "updated", "unchanged", "chunks", "errors")}})
            except httpx.HTTPError as exc:
                out["posts"].append({"id": article.get("id"), "status": 598, "error": f"{type(exc).__name__}: {exc}",
                                     "seconds": round(time.monotonic() - started, 2)})
        out["ended_s"] = time.monotonic() - t0
        out["after"] = [await _ask_new(client, a) for a in articles if a.get("question")]
    return out


async def search_new(url: str, articles: Sequence[dict[str, Any]]) -> list[bool]:
    """Before the ingest: is each new article already found by a search for its question?"""
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        out = []
        for a in articles:
            if not a.get("question"):
                continue
            res = await client.get("/api/search", params={"q": a["question"], "k": 5},
                                   headers={"X-Forwarded-For": CHECK_USER})
            out.append(res.status_code == 200 and a["url"] in {p["url"] for p in res.json()["passages"]})
        return out


async def delete_articles(url: str, articles: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Delete the ingested articles again (by the ids they were posted with)."""
    out = {"deleted": 0, "missing": 0, "failed": 0}
    async with httpx.AsyncClient(base_url=url, timeout=120) as client:
        for a in articles:
            if not a.get("id"):
                out["failed"] += 1
                continue
            res = await client.delete(f"/api/articles/{a['id']}")
            out["deleted" if res.status_code == 200 else "missing" if res.status_code == 404 else "failed"] += 1
    return out


def builtin_articles(n: int) -> list[dict[str, Any]]:
    """The first ``n`` built-in articles (each with a question and its answer)."""
    if n > len(BUILTIN_ARTICLES):
        raise ValueError(f"there are {len(BUILTIN_ARTICLES)} built-in articles; give more with --ingest-file")
    return [dict(a) for a in BUILTIN_ARTICLES[:n]]


def read_articles(path: Path) -> list[dict[str, Any]]:
    """Articles (JSONL: text, url, title, published, id; optional question and answer) to ingest."""
    out = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for i, a in enumerate(out, 1):
        if not a.get("text") or not a.get("url"):
            raise ValueError(f"{path}:{i}: an article needs text and url")
    return out
