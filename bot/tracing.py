"""Tracing for the process: an SDK tracer provider whose spans go to the in-memory trace store, and
over OTLP/HTTP too when OTEL_EXPORTER_OTLP_ENDPOINT is set (the optional `otlp` extra)."""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from monitoring import tracing
from protocol.monitoring import MonitoringConfig


class TracingUnavailable(Exception):
    """OTLP export is configured but its exporter is not installed: a config error at start."""


def start_tracing(config: MonitoringConfig) -> TracerProvider | None:
    """Install the tracer stage spans go to; None (tracing off) when TRACING=false."""
    if not config.tracing:
        tracing.install(None)
        return None
    provider = TracerProvider(resource=Resource.create({"service.name": "arbiter"}))
    store = tracing.TraceStore(config.trace_store_size)
    provider.add_span_processor(tracing.StoreProcessor(store))
    if config.otlp_endpoint:
        try:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        except ImportError:
            raise TracingUnavailable(
                "config error: OTEL_EXPORTER_OTLP_ENDPOINT is set but the OTLP exporter is not installed; "
                "expected `pip install 'arbiter[otlp]'` (opentelemetry-exporter-otlp-proto-http)") from None
        endpoint = config.otlp_endpoint.rstrip("/") + "/v1/traces"  # the spec's per-signal path on the base URL
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    tracing.install(provider.get_tracer("arbiter"), store)
    return provider


def stop_tracing(provider: TracerProvider | None) -> None:
    """End the traces still open (their root is exported too), flush what is batched for export, then fall
    back to the no-op tracer."""
    tracing.end_open_trades("shutdown")
    tracing.install(None)
    if provider is not None:
        provider.shutdown()
