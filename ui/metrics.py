"""Prometheus metrics of a server: questions, refusals, removed sentences, time per answer
stage, ingests. Served at ``/metrics`` in Prometheus' text format (prometheus-client).

Each server has its own registry, so two apps in one process (as tests make) do not add
to each other's counters.
"""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest

from index.ingest import IngestReport
from rag.types import Answer

# Seconds; answers take tens of milliseconds extractive, seconds with an LLM.
_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_STAGES = ("condense", "retrieve", "generate", "verify", "total")


class Metrics:
    """The counters and histograms of one server."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        """Register every metric, at zero, in a registry of its own."""
        self.registry = CollectorRegistry()
        self.questions = Counter("newsrag_questions", "Questions answered, by channel and answer status.",
                                 ["channel", "status"], registry=self.registry)
        self.refusals = Counter("newsrag_refusals", "Answers that said the articles do not say.",
                                ["channel"], registry=self.registry)
        self.removed = Counter("newsrag_removed_sentences", "Sentences verification removed as unsupported.",
                               ["channel"], registry=self.registry)
        self.stage = Histogram("newsrag_answer_stage_seconds", "Time an answer spent in each stage.",
                               ["stage"], buckets=_BUCKETS, registry=self.registry)
        self.articles = Counter("newsrag_ingested_articles", "Articles ingested, by outcome.",
                                ["outcome"], registry=self.registry)
        self.chunks = Counter("newsrag_ingested_chunks", "Chunks embedded and stored.", registry=self.registry)
        self.ingest_errors = Counter("newsrag_ingest_errors", "Inputs that could not be ingested.",
                                     registry=self.registry)

    def answered(self, answer: Answer, channel: str) -> None:
        """Count one answer and its stage timings."""
        self.questions.labels(channel, answer.status).inc()
        if answer.refused:
            self.refusals.labels(channel).inc()
        self.removed.labels(channel).inc(sum(1 for v in answer.sentences if v.status == "unsupported"))
        for stage in _STAGES:
            ms = answer.timings.get(f"{stage}_ms")
            if isinstance(ms, (int, float)):
                self.stage.labels(stage).observe(ms / 1000)

    def ingested(self, report: IngestReport) -> None:
        """Count what one ingest did."""
        for outcome in ("added", "updated", "unchanged"):
            self.articles.labels(outcome).inc(getattr(report, outcome))
        self.chunks.inc(report.chunks_written)
        self.ingest_errors.inc(len(report.errors))

    def render(self) -> bytes:
        """Every metric in Prometheus' text exposition format."""
        return generate_latest(self.registry)
