"""OpenTelemetry spans of an answer's stages: in-process with the SDK's in-memory exporter,
and through `rag ask` with the console exporter the environment asks for."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from index.ingest import ingest
from index.load import sample_dir
from rag.pipeline import Engine
from rag.settings import Settings, load_settings
from tests.fakes import HashingEmbedder

_EXPORTED = InMemorySpanExporter()


@pytest.fixture
def spans() -> InMemorySpanExporter:
    # The global provider can be set once per process; this module's is the only one tests set.
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTED))
        trace.set_tracer_provider(provider)
    _EXPORTED.clear()
    return _EXPORTED


def test_each_stage_is_a_child_of_the_answer(spans: InMemorySpanExporter, settings: Settings,
                                             hashing: HashingEmbedder) -> None:
    s = load_settings(data_dir=settings.data_dir, corpus="traced", embed_backend="hashing")
    ingest([sample_dir()], s)
    engine = Engine(s, embedder=hashing)
    answer = engine.ask("How many more militants did security forces kill in Balochistan?")
    assert answer.status == "answered"
    # Nothing leaks into the caller's context from the generator's yields.
    assert trace.get_current_span() is trace.INVALID_SPAN
    done = {span.name: span for span in spans.get_finished_spans()}
    root = done["newsrag.ask"]
    assert root.attributes["newsrag.status"] == "answered" and root.attributes["newsrag.corpus"] == "traced"
    for stage in ("condense", "retrieve", "generate", "verify"):
        child = done[f"newsrag.{stage}"]
        assert child.parent is not None and child.parent.span_id == root.context.span_id
        assert child.context.trace_id == root.context.trace_id
    assert done["newsrag.retrieve"].attributes["newsrag.passages"] >= 1


@pytest.mark.slow
def test_rag_ask_exports_spans_when_the_environment_asks(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RAG_", "OTEL_"))} | {
        "HF_HUB_OFFLINE": "1", "RAG_DATA_DIR": str(tmp_path / "data"), "OTEL_TRACES_EXPORTER": "console"}
    cli = [sys.executable, "-m", "ui.cli"]
    subprocess.run([*cli, "ingest", "--sample", "--quiet"], env=env, check=True, capture_output=True)
    out = subprocess.run([*cli, "ask", "Who is Pakistan's defence minister?"], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    for name in ("newsrag.ask", "newsrag.retrieve", "newsrag.generate", "newsrag.verify"):
        assert f'"name": "{name}"' in out.stdout
    assert '"service.name": "newsrag"' in out.stdout
