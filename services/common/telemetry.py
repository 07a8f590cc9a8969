"""OpenTelemetry set-up: one tracer provider per process, exporter chosen by settings.

gRPC and FastAPI use the official instrumentations; NATS has none, so the outbox stores the
W3C trace context with each event and consumers continue it (see ``uow`` and ``consumer``).
"""

from __future__ import annotations

import logging

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter

log = logging.getLogger(__name__)

TRACER_NAME = "granary"


def setup_tracing(service_name: str, exporter: str) -> None:
    """Installs the global tracer provider, unless one is installed already (tests install theirs)."""
    if isinstance(trace.get_tracer_provider(), TracerProvider):
        return
    provider = TracerProvider(resource=Resource.create({"service.name": f"granary-{service_name}"}))
    processor = _processor(exporter)
    if processor is not None:
        provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)


def _processor(exporter: str) -> SpanProcessor | None:
    span_exporter: SpanExporter
    if exporter == "none":
        return None
    if exporter == "console":
        span_exporter = ConsoleSpanExporter()
    elif exporter == "otlp":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        span_exporter = OTLPSpanExporter()  # endpoint etc. from the standard OTEL_EXPORTER_OTLP_* variables
    else:
        raise ValueError(f"unknown trace exporter {exporter!r}: expected none, console or otlp")
    return BatchSpanProcessor(span_exporter)


def shutdown_tracing() -> None:
    provider = trace.get_tracer_provider()
    if isinstance(provider, TracerProvider):
        provider.force_flush()


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)
