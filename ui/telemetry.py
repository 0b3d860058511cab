"""OpenTelemetry for the `rag` processes: traces of each answer's stages (:mod:`rag.tracing`)
are exported when the standard variables ask for it.

``OTEL_TRACES_EXPORTER`` = ``otlp`` (or ``OTEL_EXPORTER_OTLP_ENDPOINT`` set) sends them over
OTLP/gRPC to a collector (Jaeger, Tempo, an OpenTelemetry Collector); ``console`` prints them
as JSON on stdout (for a look, and for the test). Unset: no SDK, and the spans cost nothing.
The service is named ``newsrag`` unless ``OTEL_SERVICE_NAME`` says otherwise.
"""

from __future__ import annotations

import os

from rag.errors import ConfigError


def configure_tracing() -> bool:
    """Install a tracer provider with the exporter the environment names; False if none is."""
    exporter_name = os.environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if not exporter_name and os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        exporter_name = "otlp"
    if exporter_name in ("", "none"):
        return False
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor

    provider = TracerProvider(resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "newsrag")}))
    if exporter_name == "console":
        # Printed at once: a `rag ask` ends before a batch would be flushed.
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    elif exporter_name == "otlp":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    else:
        raise ConfigError(f"OTEL_TRACES_EXPORTER={exporter_name!r} is not supported here: use otlp, console or none")
    trace.set_tracer_provider(provider)
    return True
