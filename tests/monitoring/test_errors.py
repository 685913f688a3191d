"""Error aggregation: fingerprints that ignore what varies, new and spiking errors as events, and the
/monitor actor fed by the real error sink (an ERROR line, an actor crash) answering the console."""

from __future__ import annotations

import argparse
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from loguru import logger
from opentelemetry.sdk.trace import TracerProvider

from actors.monitor import Monitor, error_sink
from actors.monitor_console import errors
from bot import logging as bot_logging
from console.registry import CommandError
from monitoring import tracing
from monitoring.errors import (
    SPIKE_MIN,
    SPIKE_WINDOW_S,
    ErrorOccurrence,
    ErrorSpike,
    NewError,
    fingerprint,
    normalise,
    observe,
)
from supervision import ChildSpec, Handle, SupervisedActor, start_tree, stop_tree, supervisor_spec
from supervision.introspect import find
from tests.waiting import wait_until


def occ(message: str, at: float = 0.0, location: str = "executor.py:_record") -> ErrorOccurrence:
    return ErrorOccurrence("ValueError", location, message, at, "/market/executor", trace_id="ab" * 16)


@given(nonce=st.integers(0, 10**9), addr=st.binary(min_size=20, max_size=20), gas=st.floats(0, 1e6),
       trade=st.uuids())
def test_what_varies_between_occurrences_does_not_change_the_fingerprint(nonce, addr, gas, trade):
    message = f"nonce {nonce} too low for 0x{addr.hex()} at gas {gas} trade {trade} id {'ab' * 16} in 'pool-x'"
    reference = ("nonce 1 too low for 0x00 at gas 0.5 trade 00000000-0000-0000-0000-000000000000 "
                 "id 00000000000000000000 in 'y'")
    assert fingerprint("ValueError", "a.py:f", message) == fingerprint("ValueError", "a.py:f", reference)
    assert fingerprint("KeyError", "a.py:f", message) != fingerprint("ValueError", "a.py:f", message)
    assert fingerprint("ValueError", "b.py:g", message) != fingerprint("ValueError", "a.py:f", message)


def test_normalise_keeps_the_words():
    assert normalise("timeout after 3.5s on 0xdeadbeef") == "timeout after <n>s on <hex>"


def test_a_new_fingerprint_is_an_event_and_a_known_one_is_counted():
    book, events = observe({}, occ("nonce 3 too low", at=100.0))
    assert [type(e) for e in events] == [NewError]
    group = events[0].group
    book, events = observe(book, occ("nonce 4 too low", at=105.0))
    assert events == [] and book[group.fingerprint].count == 2
    g = book[group.fingerprint]
    assert (g.first_seen, g.last_seen, g.example, g.example_trace_id, g.actor) == (
        100.0, 105.0, "nonce 3 too low", "ab" * 16, "/market/executor")


def test_a_rate_spike_of_a_known_error_is_an_event_once_per_window():
    book: dict = {}
    t = 0.0
    for _ in range(10):  # a quiet past: one every 2 windows
        book, _ = observe(book, occ("rpc 502", at=t))
        t += 2 * SPIKE_WINDOW_S
    spikes = []
    for i in range(3 * SPIKE_MIN):  # then a burst inside one window
        book, events = observe(book, occ("rpc 502", at=t + i * 0.1))
        spikes += [e for e in events if isinstance(e, ErrorSpike)]
    assert len(spikes) == 1 and spikes[0].in_window == SPIKE_MIN and spikes[0].usual < 1


class Faulty(SupervisedActor):
    def receive(self, msg):
        if msg == "fail":
            try:
                {}["missing pool 0x1234"]
            except KeyError:
                self.log.bind(trace_id="cd" * 16).exception("lookup failed for block 1234")
            return None
        if msg == "crash":  # in a tell handler: the actor dies, its supervisor restarts it
            raise RuntimeError("reserves of pool 0xabc went negative at block 99")
        return super().receive(msg)


@pytest.fixture
def monitored() -> Iterator[list[str]]:
    lines: list[str] = []
    logger.configure(patcher=bot_logging._patch)
    sinks = [logger.add(error_sink, level="ERROR", format=bot_logging._json_format),
             logger.add(lines.append, level="WARNING", format=bot_logging._json_format)]
    start_tree(supervisor_spec("root", [ChildSpec("monitor", Monitor), ChildSpec("faulty", Faulty)]))
    try:
        yield lines
    finally:
        stop_tree()
        for sink in sinks:
            logger.remove(sink)
        logger.configure(patcher=lambda record: None)


def test_the_monitor_counts_errors_and_crashes_and_the_console_shows_them(monitored):
    faulty = Handle("/faulty")
    for _ in range(3):
        faulty.ask("fail", timeout=5.0)
    table = wait_until(lambda: (t := errors(argparse.Namespace(fingerprint=None))).rows and t,
                       what="the error counted")
    [row] = [r for r in table.rows if r[5] == "KeyError"]
    fp = row[0]
    assert row[1] == 3 and row[4] == "/faulty"
    one = errors(argparse.Namespace(fingerprint=fp[:6]))
    assert one["count"] == 3 and one["example_trace_id"] == "cd" * 16 and one["location"].endswith(":receive")
    # the first one was an event for the alerting layer, logged at WARNING with its fields
    new = wait_until(lambda: [x for x in monitored if '"event":"new_error"' in str(x) and fp in str(x)],
                     what="the new-error event")
    assert len(new) == 1 and '"error_actor":"/faulty"' in str(new[0])
    # an actor crash is an error too
    faulty.tell("crash")
    crashes = wait_until(lambda: [r for r in errors(argparse.Namespace(fingerprint=None)).rows
                                  if r[5] == "RuntimeError"], what="the crash counted")
    assert crashes[0][1] == 1 and crashes[0][4] == "/faulty" and "went negative" in crashes[0][6]
    with pytest.raises(CommandError, match="no error with fingerprint"):
        errors(argparse.Namespace(fingerprint="0000"))


def test_the_monitor_ends_the_trace_of_a_trade_no_actor_finished(monitored):
    """A trade lost to a restart leaves its root open: the monitor's timer ends it as `timeout`, so the
    store (and a collector) get the whole tree."""
    store = tracing.TraceStore()
    provider = TracerProvider()
    provider.add_span_processor(tracing.StoreProcessor(store))
    tracing.install(provider.get_tracer("test"), store, trade_timeout_s=0.001)
    try:
        trace_id = tracing.open_trade(time.time_ns())
        [root] = wait_until(lambda: store.timeline(trace_id), timeout=30.0, what="the lost trade's root ended")
        assert root.name == tracing.ROOT and root.attributes["trade.outcome"] == "timeout" and root.error
        info = wait_until(lambda: (i := find("/monitor")) is not None and i.extra.get("traces_expired") and i,
                          what="the monitor's count of expired traces")
        assert info.extra["traces_expired"] >= 1
    finally:
        tracing.install(None)
        provider.shutdown()
