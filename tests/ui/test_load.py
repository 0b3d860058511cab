"""The load test's machinery (evals/load.py) against a live `rag serve` on the bundled sample,
for eight seconds: four clients ask while, from the third second on, a slow client reads a
streamed answer one byte a second, fifty connections sit idle (silent, half a request line,
headers without their end) and two new articles are ingested through the API. The figures of
``python -m evals.load`` on the real corpus are in README; this checks what must hold, with no
tight timings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from evals.gold import load_gold, sample_gold
from evals.load import KINDS, LoadConfig, builtin_articles, describe, run_load
from tests.servers import serve

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def open_server(sample_data: Path) -> Iterator[tuple[int, str]]:
    """``rag serve`` on the sample with the rate limit off: the load comes from one address."""
    proc, url = serve(sample_data, sample_data / "load.log", {"RAG_RATE_LIMIT": ""})
    try:
        yield proc.pid, url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_load_with_a_slow_client_idle_connections_and_an_ingest(open_server: tuple[int, str]) -> None:
    pid, url = open_server
    new = builtin_articles(2)
    cfg = LoadConfig(url=url, questions=load_gold(sample_gold()), clients=4, seconds=8, max_requests=3000, pid=pid,
                     check=8, slow_clients=1, idle_connections=50, ingest=new, stress_after=3)
    figures = run_load(cfg)
    report = "\n".join(describe(figures, cfg))
    print(report)  # shown with -s, and with any failure below

    # No server error and no request over 10 s, for any endpoint, with or without the stress.
    assert figures["all"]["server_errors"] == 0, report
    assert figures["all"]["over_10s"] == 0, report
    # The others are not starved: every endpoint answered in both halves of the run.
    for phase in ("baseline", "stressed"):
        for kind in KINDS:
            assert figures["phases"][phase][kind]["ok"] > 0, report

    # The slow client read slowly, then got the whole answer, or the server ended the connection cleanly.
    slow = figures["slow_clients"][0]
    assert "failed" not in slow, report
    assert slow["status"].startswith("HTTP/1.1 200"), report
    assert slow["read_slowly_bytes"] >= 1, report
    assert slow["whole"] or slow["server_closed"] or "reset" in slow, report

    # The idle connections were accepted (and cost no worker: the others got answers meanwhile).
    assert figures["idle_connections"]["connected"] == 50, report

    # The new articles were not there before, were ingested under load, and are then cited and found.
    ingest = figures["ingest"]
    assert ingest["found_before"] == 0, report
    assert ingest["posted_ok"] == 2 and ingest["added"] == 2, report
    assert ingest["cited"] == 2 and ingest["contains_answer"] == 2 and ingest["searchable"] == 2, report
    assert ingest["cleanup"]["deleted"] == 2, report
    # The regular answers stayed what they were before the load and the ingest.
    correct = figures["correctness"]
    assert correct["compared_with_reference"] > 0, report
    assert correct["same_as_reference"] == correct["compared_with_reference"], report
    assert figures["correctness_by_ingest"]["after"]["compared_with_reference"] > 0, report
