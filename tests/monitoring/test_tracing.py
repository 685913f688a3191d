"""Traces: the in-memory store behind the SDK's span processor, the console's views of it, and the
OTLP/HTTP export checked by a real local receiver that decodes the protobuf payload."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider

from actors.monitor_console import trace, traces
from bot.tracing import start_tracing, stop_tracing
from console.registry import CommandError
from monitoring import tracing
from protocol.envelope import new_trace_id
from protocol.monitoring import MonitoringConfig
from protocol.secrets import Secret
from tests.monitoring.otlp_receiver import missing_parents, otlp_receiver
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


def lifecycle(t0: int, final: str = "included", took_ms: int = 10) -> str:
    """One opportunity's trace as the actors write it: the root, then each stage opened and ended."""
    ms = 1_000_000
    trace_id = tracing.open_trade(t0, {"block": 7})
    detected = tracing.start_stage(trace_id, "detected", None, t0, {"pools": ["0xa", "0xb"], "size": "100"})
    tracing.end_stage(detected, end_ns=t0 + ms)
    root = tracing.root_span_id(trace_id)
    assessed = tracing.start_stage(trace_id, "assessed", root, t0 + ms)
    tracing.end_stage(assessed, {"risk.approved": final != "skipped"}, end_ns=t0 + 2 * ms)
    last = tracing.start_stage(trace_id, "awaiting", root, t0 + 2 * ms, {"tx.hash": "0xfeed"})
    error = "reverted" if final == "failed" else None
    tracing.end_stage(last, error=error, end_ns=t0 + took_ms * ms, name=final)
    assert tracing.end_trade(trace_id, final, error, t0 + took_ms * ms)
    return trace_id


def test_the_trace_id_is_the_otel_trace_id_and_the_root_is_a_real_span(store):
    trace_id = lifecycle(1_000)
    assert len(trace_id) == 32 and int(trace_id, 16)
    spans = store.timeline(trace_id)
    assert [s.name for s in spans] == [tracing.ROOT, "detected", "assessed", "included"]
    root = spans[0]
    assert root.parent_id is None and root.attributes == {"block": 7, "trade.outcome": "included"}
    assert {s.parent_id for s in spans[1:]} == {root.span_id}  # every stage hangs under the exported root
    assert spans[1].attributes == {"pools": ["0xa", "0xb"], "size": "100"}
    assert spans[3].duration_ms == pytest.approx(8.0) and root.duration_ms == pytest.approx(10.0)
    assert tracing.root_span_id(trace_id) is None and not tracing.end_trade(trace_id, "included")


def test_a_stage_after_its_trace_ended_has_no_parent_and_is_not_recorded(store):
    trace_id = lifecycle(1_000)
    assert tracing.start_stage(trace_id, "simulated", None) is None
    assert len(store.timeline(trace_id)) == 4


def test_an_open_trace_is_ended_at_its_timeout_and_at_shutdown(store):
    tracing.install(tracing.tracer(), store, trade_timeout_s=1.0)
    old = tracing.open_trade(10**9)
    young = tracing.open_trade(5 * 10**9)
    assert tracing.open_trades() == 2
    assert tracing.expire(now_ns=3 * 10**9) == 1  # only the first is a second past its detection
    [root] = store.timeline(old)
    assert root.attributes["trade.outcome"] == "timeout" and root.error and root.end_ns == 2 * 10**9
    assert store.failed(5)[0].trace_id == old
    assert tracing.end_open_trades() == 1 and tracing.open_trades() == 0
    assert store.timeline(young)[0].attributes["trade.outcome"] == "shutdown"


def test_open_traces_are_bounded(store, monkeypatch):
    monkeypatch.setattr(tracing, "MAX_OPEN_TRADES", 3)
    ids = [tracing.open_trade(i) for i in range(5)]
    assert tracing.open_trades() == 3
    assert [store.timeline(t)[0].attributes["trade.outcome"] for t in ids[:2]] == ["evicted", "evicted"]
    assert all(tracing.root_span_id(t) for t in ids[2:])


def test_the_store_keeps_the_last_n_traces_and_finds_slow_and_failed(store):
    ids = [lifecycle(i * 10**9, final="failed" if i % 2 else "included", took_ms=10 + i) for i in range(5)]
    assert len(store) == 3 and store.timeline(ids[0]) == [] and store.timeline(ids[4])
    assert [s.trace_id for s in store.slowest(2)] == [ids[4], ids[3]]
    assert [s.trace_id for s in store.failed(5)] == [ids[3]]
    assert store.failed(5)[0].last == "failed" and store.failed(5)[0].failed
    assert store.slowest(1)[0].first == "detected" and store.slowest(1)[0].spans == 4


def test_span_attributes_carry_no_secret(store):
    Secret(RPC_URL)
    trace_id = tracing.open_trade(1, {"endpoint": RPC_URL})
    sent = tracing.start_stage(trace_id, "sent", None, 1, {"endpoint": RPC_URL})
    tracing.end_stage(sent, {"hops": [RPC_URL]}, error=f"POST {RPC_URL}: 500", end_ns=2)
    tracing.end_trade(trace_id, "failed", f"POST {RPC_URL}: 500", 3)
    spans = store.timeline(trace_id)
    text = repr(spans)
    assert len(spans) == 2 and "pa55w0rdXYZ" not in text and "abcdefabcdef0123456789" not in text


def test_console_trace_and_traces(store):
    trace_id = lifecycle(5 * 10**9, final="skipped")
    table = trace(argparse.Namespace(trace_id=trace_id))
    assert [row[0] for row in table.rows] == [tracing.ROOT, "detected", "assessed", "skipped"]
    assert table.rows[3][2] == "8.00" and "risk.approved=False" in table.rows[2][4]
    listed = traces(argparse.Namespace(slow=5, failed=None))
    assert listed.rows[0][0] == trace_id and listed.rows[0][4] == "skipped"
    assert traces(argparse.Namespace(slow=None, failed=5)).rows == []
    with pytest.raises(CommandError, match="no trace"):
        trace(argparse.Namespace(trace_id=new_trace_id()))


def test_spans_are_exported_over_otlp_http_as_a_whole_tree():
    with otlp_receiver() as receiver:
        provider = start_tracing(MonitoringConfig(otlp_endpoint=receiver.url))
        trace_id = lifecycle(10**9)
        unfinished = tracing.open_trade(2 * 10**9)  # still open at shutdown: its root is ended and exported
        tracing.end_stage(tracing.start_stage(unfinished, "detected", None, 2 * 10**9), end_ns=2 * 10**9 + 5)
        stop_tracing(provider)  # flushes the batch
        got = wait_until(lambda: len(receiver.spans) >= 6 and list(receiver.spans), what="6 spans received",
                         changed=receiver.changed)
    assert set(receiver.paths) == {"/v1/traces"}
    mine = [s for s in got if s.trace_id == trace_id]
    assert [s.name for s in mine] == ["detected", "assessed", "included", tracing.ROOT]
    assert missing_parents(got) == [] and [s.name for s in got if s.parent_id is None] == [tracing.ROOT] * 2
    assert mine[2].attributes["tx.hash"] == "0xfeed" and mine[1].attributes["risk.approved"] is True
    assert next(s for s in got if s.trace_id == unfinished and s.parent_id is None).attributes[
        "trade.outcome"] == "shutdown"


def test_tracing_off_keeps_nothing():
    assert start_tracing(MonitoringConfig(tracing=False)) is None
    assert not tracing.enabled() and tracing.store() is None
    trace_id = tracing.open_trade(1)  # still an id of the same form, but nothing is kept
    assert len(trace_id) == 32 and tracing.start_stage(trace_id, "detected", None) is None
    assert tracing.open_trades() == 0 and not tracing.end_trade(trace_id, "included")
