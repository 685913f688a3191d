"""Traces of opportunities: one OpenTelemetry trace per opportunity, its stages as spans, kept in memory.

The envelope's trace id *is* the OTel trace id (128 bits, 32 hex digits: protocol.envelope.new_trace_id),
so any actor that holds the id can add a stage to the trace: the parent is a span context rebuilt from
the id alone (`stage_context`), never a thread-local. Every stage span of a trace shares one virtual
root span id derived from the trace id, so the stages are siblings under the opportunity.

`TraceStore` keeps the last `max_traces` traces (10,000 by default) behind `StoreProcessor`, an SDK span
processor; the console reads timelines, the slowest and the failed traces from it. `install` sets the
tracer the stages use; until then (or with tracing off) it is the API's no-op tracer.
"""

from __future__ import annotations

import collections
import hashlib
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from protocol.secrets import redact

DEFAULT_MAX_TRACES = 10_000
#: The stages of an opportunity, in order; a trace ends in one of the last three.
STAGES = ("detected", "assessed", "simulated", "signed", "sent", "included", "failed", "skipped")
FINAL = ("included", "failed", "skipped")
_HEX32 = re.compile(r"[0-9a-f]{32}")


def otel_trace_id(trace_id: str) -> int:
    """The 128-bit OTel trace id of an envelope trace id (a non-hex id, as tests use, is hashed to one)."""
    text = trace_id.lower()
    if _HEX32.fullmatch(text) and int(text, 16):
        return int(text, 16)
    return int(hashlib.sha256(trace_id.encode()).hexdigest()[:32], 16)


def root_span_id(trace_id: int) -> int:
    """The virtual root every stage of a trace hangs under: the trace id's low 64 bits (never 0)."""
    return (trace_id & 0xFFFFFFFFFFFFFFFF) or 1


def stage_context(trace_id: str) -> otel_context.Context:
    """A context whose current span is the opportunity's virtual root: a new span in it joins the trace."""
    tid = otel_trace_id(trace_id)
    parent = SpanContext(trace_id=tid, span_id=root_span_id(tid), is_remote=True,
                         trace_flags=TraceFlags(TraceFlags.SAMPLED))
    return trace.set_span_in_context(NonRecordingSpan(parent))


class SpanRecord(msgspec.Struct, frozen=True):
    name: str
    span_id: str
    parent_id: str | None
    start_ns: int
    end_ns: int
    attributes: dict[str, Any]
    error: bool = False

    @property
    def duration_ms(self) -> float:
        return (self.end_ns - self.start_ns) / 1e6


class TraceSummary(msgspec.Struct, frozen=True):
    trace_id: str
    spans: int
    first: str
    last: str
    duration_ms: float
    started_ns: int
    failed: bool


def _plain(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


class TraceStore:
    """The last `max_traces` traces, each its finished spans in arrival order. Thread-safe: spans end on
    every actor's thread, the console reads from its own."""

    def __init__(self, max_traces: int = DEFAULT_MAX_TRACES) -> None:
        self.max_traces = max_traces
        self._traces: collections.OrderedDict[str, list[SpanRecord]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def add(self, trace_id: str, span: SpanRecord) -> None:
        with self._lock:
            spans = self._traces.get(trace_id)
            if spans is None:
                spans = self._traces[trace_id] = []
                while len(self._traces) > self.max_traces:
                    self._traces.popitem(last=False)
            spans.append(span)

    def __len__(self) -> int:
        return len(self._traces)

    def timeline(self, trace_id: str) -> list[SpanRecord]:
        """The trace's spans by start time (empty when unknown or evicted). Accepts the envelope's id."""
        key = f"{otel_trace_id(trace_id):032x}"
        with self._lock:
            spans = list(self._traces.get(key, ()))
        return sorted(spans, key=lambda s: (s.start_ns, STAGES.index(s.name) if s.name in STAGES else 99))

    def summaries(self) -> list[TraceSummary]:
        with self._lock:
            items = [(k, list(v)) for k, v in self._traces.items()]
        return [summarize(k, v) for k, v in items if v]

    def slowest(self, n: int) -> list[TraceSummary]:
        return sorted(self.summaries(), key=lambda s: s.duration_ms, reverse=True)[:n]

    def failed(self, n: int) -> list[TraceSummary]:
        return sorted((s for s in self.summaries() if s.failed), key=lambda s: s.started_ns, reverse=True)[:n]


def summarize(trace_id: str, spans: Sequence[SpanRecord]) -> TraceSummary:
    ordered = sorted(spans, key=lambda s: s.start_ns)
    start = ordered[0].start_ns
    end = max(s.end_ns for s in ordered)
    last = max(ordered, key=lambda s: (s.end_ns, s.name in FINAL)).name
    return TraceSummary(trace_id=trace_id, spans=len(ordered), first=ordered[0].name, last=last,
                        duration_ms=(end - start) / 1e6, started_ns=start,
                        failed=any(s.name == "failed" or s.error for s in ordered))


class StoreProcessor(SpanProcessor):
    """An SDK span processor that keeps every ended span in a TraceStore."""

    def __init__(self, store: TraceStore) -> None:
        self.store = store

    def on_end(self, span: ReadableSpan) -> None:
        ctx = span.context
        if ctx is None:
            return
        parent = span.parent
        attributes: Mapping[str, Any] = span.attributes or {}
        self.store.add(f"{ctx.trace_id:032x}", SpanRecord(
            name=span.name, span_id=f"{ctx.span_id:016x}",
            parent_id=f"{parent.span_id:016x}" if parent is not None else None,
            start_ns=span.start_time or 0, end_ns=span.end_time or 0,
            attributes={k: _plain(v) for k, v in attributes.items()},
            error=span.status.status_code is trace.StatusCode.ERROR,
        ))


# --- the process's tracer -------------------------------------------------------------------------------

_tracer: trace.Tracer = trace.NoOpTracer()
_store: TraceStore | None = None


def install(tracer: trace.Tracer | None, store: TraceStore | None = None) -> None:
    """Set the tracer stage spans go to (None: the no-op tracer, tracing off) and the store the console reads."""
    global _tracer, _store
    _tracer = tracer if tracer is not None else trace.NoOpTracer()
    _store = store


def tracer() -> trace.Tracer:
    return _tracer


def enabled() -> bool:
    return not isinstance(_tracer, trace.NoOpTracer)


def store() -> TraceStore | None:
    return _store


def _attribute(value: Any) -> Any:
    """An attribute value as OTel takes it, with any secret in its text masked (spans are exported)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, list | tuple):
        return [redact(v) if isinstance(v, str) else v for v in value]
    return value


def stage(trace_id: str, name: str, start_ns: int, end_ns: int, attributes: Mapping[str, Any],
          error: str | None = None) -> None:
    """Record one finished stage of the opportunity `trace_id` (a no-op with tracing off)."""
    if not enabled():
        return
    span = _tracer.start_span(name, context=stage_context(trace_id), start_time=start_ns,
                              attributes={k: _attribute(v) for k, v in attributes.items() if v is not None})
    if error is not None:
        span.set_status(trace.Status(trace.StatusCode.ERROR, redact(error)))
    span.end(end_time=end_ns)
