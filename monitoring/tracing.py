"""Traces of opportunities: one OpenTelemetry trace per opportunity, its stages as spans, kept in memory.

The opportunity's id *is* the OTel trace id (128 bits, 32 hex digits): `open_trade` starts the trace's
root span, `opportunity` (the whole lifecycle, from detection to the trade's end), and its trace id
becomes the id the envelopes carry. Each stage (detected, assessed, simulated, signed, sent, then
included, failed or skipped) is a child span opened when the stage starts (`start_stage`) and ended
when it ends, so a log line written during a stage can name the stage's span id. The parent of a stage
is the span id the envelope brought (the root's), never a thread-local; the open roots are kept here by
trace id so that the actor that sees the trade's end can end its root (`end_trade`). A root that no
actor ends (its trade was lost to a restart) is ended by `expire` after DEFAULT_TRADE_TIMEOUT_S; at
shutdown `end_open_trades` ends the rest, so an exported tree never lacks its root.

`TraceStore` keeps the last `max_traces` traces (10,000 by default) behind `StoreProcessor`, an SDK span
processor; the console reads timelines, the slowest and the failed traces from it. `install` sets the
tracer the stages use; until then (or with tracing off) it is the API's no-op tracer.
"""

from __future__ import annotations

import collections
import hashlib
import re
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from protocol.envelope import new_trace_id
from protocol.secrets import redact

DEFAULT_MAX_TRACES = 10_000
#: The root span of every trace: the opportunity's whole lifecycle.
ROOT = "opportunity"
#: The stages of an opportunity, in order; a trace ends in one of the last three.
STAGES = ("detected", "assessed", "simulated", "signed", "sent", "included", "failed", "skipped")
FINAL = ("included", "failed", "skipped")
#: A root still open this long after its detection is ended as `timeout` (a trade can wait for inclusion
#: for many blocks, but not for ten minutes; one lost to a restart must still reach the collector).
DEFAULT_TRADE_TIMEOUT_S = 600.0
#: Open roots kept at most; past this the oldest is ended as `evicted` (memory stays bounded).
MAX_OPEN_TRADES = 4096
_HEX32 = re.compile(r"[0-9a-f]{32}")


def otel_trace_id(trace_id: str) -> int:
    """The 128-bit OTel trace id of an envelope trace id (a non-hex id, as tests use, is hashed to one)."""
    text = trace_id.lower()
    if _HEX32.fullmatch(text) and int(text, 16):
        return int(text, 16)
    return int(hashlib.sha256(trace_id.encode()).hexdigest()[:32], 16)


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
        return sorted(spans, key=_order)

    def summaries(self) -> list[TraceSummary]:
        with self._lock:
            items = [(k, list(v)) for k, v in self._traces.items()]
        return [summarize(k, v) for k, v in items if v]

    def slowest(self, n: int) -> list[TraceSummary]:
        return sorted(self.summaries(), key=lambda s: s.duration_ms, reverse=True)[:n]

    def failed(self, n: int) -> list[TraceSummary]:
        return sorted((s for s in self.summaries() if s.failed), key=lambda s: s.started_ns, reverse=True)[:n]


def _order(span: SpanRecord) -> tuple[int, int]:
    """The root first, then the stages by start (stages that start together in lifecycle order)."""
    rank = -1 if span.name == ROOT else STAGES.index(span.name) if span.name in STAGES else 99
    return (-1 if span.name == ROOT else span.start_ns, rank)


def summarize(trace_id: str, spans: Sequence[SpanRecord]) -> TraceSummary:
    """One trace in a line: its first and last stage (the root is not a stage) and its whole duration."""
    ordered = sorted(spans, key=_order)
    stages = [s for s in ordered if s.name != ROOT] or ordered
    start = min(s.start_ns for s in ordered)
    end = max(s.end_ns for s in ordered)
    last = max(stages, key=lambda s: (s.end_ns, s.name in FINAL)).name
    return TraceSummary(trace_id=trace_id, spans=len(ordered), first=stages[0].name, last=last,
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
_trade_timeout_ns = int(DEFAULT_TRADE_TIMEOUT_S * 1e9)
#: The open roots by trace id (32 hex), each with the time it is ended as timed out; oldest first.
_open: collections.OrderedDict[str, tuple[trace.Span, int]] = collections.OrderedDict()
_open_lock = threading.Lock()


def install(tracer: trace.Tracer | None, store: TraceStore | None = None,
            trade_timeout_s: float = DEFAULT_TRADE_TIMEOUT_S) -> None:
    """Set the tracer stage spans go to (None: the no-op tracer, tracing off) and the store the console reads.
    Roots still open under the previous tracer are forgotten (end_open_trades ends them first)."""
    global _tracer, _store, _trade_timeout_ns
    _tracer = tracer if tracer is not None else trace.NoOpTracer()
    _store = store
    _trade_timeout_ns = int(trade_timeout_s * 1e9)
    with _open_lock:
        _open.clear()


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


def _attributes(attributes: Mapping[str, Any] | None) -> dict[str, Any]:
    return {k: _attribute(v) for k, v in (attributes or {}).items() if v is not None}


def span_id(span: trace.Span | None) -> str | None:
    """A span's id as logs and envelopes carry it (16 hex digits); None for no span or a no-op one."""
    if span is None:
        return None
    ctx = span.get_span_context()
    return f"{ctx.span_id:016x}" if ctx.is_valid else None


def open_trade(start_ns: int, attributes: Mapping[str, Any] | None = None) -> str:
    """Start an opportunity's root span at `start_ns`; its trace id is the opportunity's id from now on.
    With tracing off there is no span, and the id is a fresh random one of the same form."""
    if not enabled():
        return new_trace_id()
    root = _tracer.start_span(ROOT, context=otel_context.Context(), start_time=start_ns,
                              attributes=_attributes(attributes))
    trace_id = f"{root.get_span_context().trace_id:032x}"
    evicted = []
    with _open_lock:
        _open[trace_id] = (root, start_ns + _trade_timeout_ns)
        while len(_open) > MAX_OPEN_TRADES:
            evicted.append(_open.popitem(last=False)[1][0])
    for span in evicted:
        _end_root(span, "evicted", "more than MAX_OPEN_TRADES traces open", None)
    return trace_id


def root_span_id(trace_id: str) -> str | None:
    """The span id of the opportunity's root while it is open (None once it has ended, or never began)."""
    with _open_lock:
        entry = _open.get(trace_id)
    return span_id(entry[0]) if entry is not None else None


def start_stage(trace_id: str, name: str, parent_span_id: str | None, start_ns: int | None = None,
                attributes: Mapping[str, Any] | None = None) -> trace.Span | None:
    """Open the stage `name` of the opportunity `trace_id` under `parent_span_id` (the root's id as the
    envelope carried it; the open root's when None). None with tracing off or when the trace has no root
    any more (a stage that would hang under a missing parent)."""
    if not enabled():
        return None
    parent = parent_span_id or root_span_id(trace_id)
    if parent is None:
        return None
    parent_ctx = SpanContext(trace_id=otel_trace_id(trace_id), span_id=int(parent, 16), is_remote=False,
                             trace_flags=TraceFlags(TraceFlags.SAMPLED))
    return _tracer.start_span(name, context=trace.set_span_in_context(NonRecordingSpan(parent_ctx)),
                              start_time=start_ns, attributes=_attributes(attributes))


def end_stage(span: trace.Span | None, attributes: Mapping[str, Any] | None = None, error: str | None = None,
              end_ns: int | None = None, name: str | None = None) -> None:
    """End a stage opened by start_stage, adding its outcome's attributes (and renaming it: the stage that
    waits for inclusion is named by how it ended); an error marks the span failed."""
    if span is None:
        return
    if name is not None:
        span.update_name(name)
    for key, value in _attributes(attributes).items():
        span.set_attribute(key, value)
    if error is not None:
        span.set_status(trace.Status(trace.StatusCode.ERROR, redact(error)))
    span.end(end_time=end_ns)


def end_trade(trace_id: str, outcome: str, error: str | None = None, end_ns: int | None = None) -> bool:
    """End the opportunity's root with its outcome (`included`, `failed`, `skipped`, ...); False if it was
    not open (ended already, expired, or traced before tracing started)."""
    with _open_lock:
        entry = _open.pop(trace_id, None)
    if entry is None:
        return False
    _end_root(entry[0], outcome, error, end_ns)
    return True


def _end_root(root: trace.Span, outcome: str, error: str | None, end_ns: int | None) -> None:
    root.set_attribute("trade.outcome", outcome)
    if error is not None:
        root.set_status(trace.Status(trace.StatusCode.ERROR, redact(error)))
    root.end(end_time=end_ns)


def expire(now_ns: int | None = None) -> int:
    """End the roots whose timeout has passed (as `timeout`, at their deadline); how many were ended."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    with _open_lock:
        late = [(tid, span, deadline) for tid, (span, deadline) in _open.items() if deadline <= now_ns]
        for tid, _, _ in late:
            del _open[tid]
    for _, span, deadline in late:
        _end_root(span, "timeout", "the trade did not reach a final stage in time", deadline)
    return len(late)


def end_open_trades(outcome: str = "shutdown") -> int:
    """End every open root now (at shutdown, before the exporter's last flush); how many were ended."""
    with _open_lock:
        spans = [span for span, _ in _open.values()]
        _open.clear()
    for span in spans:
        _end_root(span, outcome, None, None)
    return len(spans)


def open_trades() -> int:
    with _open_lock:
        return len(_open)
