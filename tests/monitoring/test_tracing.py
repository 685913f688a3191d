"""Traces: the in-memory store behind the SDK's span processor, the console's views of it, and the
OTLP/HTTP export checked by a real local receiver that decodes the protobuf payload."""

from __future__ import annotations

import argparse
import http.server
import threading
from collections.abc import Iterator

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider

from actors.monitor_console import trace, traces
from bot.tracing import start_tracing, stop_tracing
from console.registry import CommandError
from monitoring import tracing
from protocol.envelope import new_trace_id
from protocol.monitoring import MonitoringConfig
from protocol.secrets import Secret
from tests.waiting import wait_until

RPC_URL = "https://bob:pa55w0rdXYZ@rpc.example.org/v2/abcdefabcdef0123456789"


@pytest.fixture
def store() -> Iterator[tracing.TraceStore]:
    store = tracing.TraceStore(max_traces=3)
    provider = TracerProvider()
    provider.add_span_processor(tracing.StoreProcessor(store))
    tracing.install(provider.get_tracer("test"), store)
    try:
        yield store
    finally:
        tracing.install(None)
        provider.shutdown()


def lifecycle(trace_id: str, t0: int, final: str = "included", took_ms: int = 10) -> None:
    ms = 1_000_000
    tracing.stage(trace_id, "detected", t0, t0 + ms, {"pools": ["0xa", "0xb"], "size": "100"})
    tracing.stage(trace_id, "assessed", t0 + ms, t0 + 2 * ms, {"risk.approved": final != "skipped"})
    tracing.stage(trace_id, final, t0 + 2 * ms, t0 + took_ms * ms, {"tx.hash": "0xfeed"},
                  error="reverted" if final == "failed" else None)


def test_the_envelope_trace_id_is_the_otel_trace_id(store):
    trace_id = new_trace_id()
    assert len(trace_id) == 32
    lifecycle(trace_id, 1_000)
    spans = store.timeline(trace_id)
    assert [s.name for s in spans] == ["detected", "assessed", "included"]
    assert {s.parent_id for s in spans} == {f"{tracing.root_span_id(int(trace_id, 16)):016x}"}
    assert spans[0].attributes == {"pools": ["0xa", "0xb"], "size": "100"}
    assert spans[2].duration_ms == pytest.approx(8.0)


def test_the_store_keeps_the_last_n_traces_and_finds_slow_and_failed(store):
    ids = [new_trace_id() for _ in range(5)]
    for i, trace_id in enumerate(ids):
        lifecycle(trace_id, i * 10**9, final="failed" if i % 2 else "included", took_ms=10 + i)
    assert len(store) == 3 and store.timeline(ids[0]) == [] and store.timeline(ids[4])
    assert [s.trace_id for s in store.slowest(2)] == [ids[4], ids[3]]
    assert [s.trace_id for s in store.failed(5)] == [ids[3]]
    assert store.failed(5)[0].last == "failed" and store.failed(5)[0].failed


def test_span_attributes_carry_no_secret(store):
    Secret(RPC_URL)
    trace_id = new_trace_id()
    tracing.stage(trace_id, "sent", 1, 2, {"endpoint": RPC_URL, "hops": [RPC_URL]}, error=f"POST {RPC_URL}: 500")
    [span] = store.timeline(trace_id)
    text = repr(span)
    assert "pa55w0rdXYZ" not in text and "abcdefabcdef0123456789" not in text


def test_console_trace_and_traces(store):
    trace_id = new_trace_id()
    lifecycle(trace_id, 5 * 10**9, final="skipped")
    table = trace(argparse.Namespace(trace_id=trace_id))
    assert [row[0] for row in table.rows] == ["detected", "assessed", "skipped"]
    assert table.rows[2][2] == "8.00" and "risk.approved=False" in table.rows[1][4]
    listed = traces(argparse.Namespace(slow=5, failed=None))
    assert listed.rows[0][0] == trace_id and listed.rows[0][4] == "skipped"
    assert traces(argparse.Namespace(slow=None, failed=5)).rows == []
    with pytest.raises(CommandError, match="no trace"):
        trace(argparse.Namespace(trace_id=new_trace_id()))


class Receiver(http.server.ThreadingHTTPServer):
    """An OTLP/HTTP collector: decodes each POST /v1/traces as ExportTraceServiceRequest."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.spans: list[tuple[str, bytes, dict[str, object]]] = []
        self.paths: list[str] = []
        self.changed = threading.Condition()


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        server: Receiver = self.server  # type: ignore[assignment]
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        with server.changed:
            server.paths.append(self.path)
            for rs in request.resource_spans:
                for ss in rs.scope_spans:
                    for span in ss.spans:
                        attrs = {a.key: a.value.WhichOneof("value") and getattr(a.value, a.value.WhichOneof("value"))
                                 for a in span.attributes}
                        server.spans.append((span.name, span.trace_id, attrs))
            server.changed.notify_all()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_spans_are_exported_over_otlp_http_to_a_real_receiver():
    receiver = Receiver()
    thread = threading.Thread(target=receiver.serve_forever, daemon=True)
    thread.start()
    try:
        provider = start_tracing(MonitoringConfig(otlp_endpoint=f"http://127.0.0.1:{receiver.server_port}"))
        trace_id = new_trace_id()
        lifecycle(trace_id, 10**9)
        stop_tracing(provider)  # flushes the batch
        got = wait_until(lambda: len(receiver.spans) >= 3 and receiver.spans, what="3 spans received",
                         changed=receiver.changed)
    finally:
        receiver.shutdown()
        receiver.server_close()
    assert receiver.paths == ["/v1/traces"]
    assert [name for name, _, _ in got] == ["detected", "assessed", "included"]
    assert {tid for _, tid, _ in got} == {bytes.fromhex(trace_id)}
    assert got[2][2]["tx.hash"] == "0xfeed" and got[1][2]["risk.approved"] is True


def test_tracing_off_keeps_nothing():
    assert start_tracing(MonitoringConfig(tracing=False)) is None
    assert not tracing.enabled() and tracing.store() is None
    tracing.stage(new_trace_id(), "detected", 1, 2, {})  # a no-op, not an error
