"""The lock-free latency histogram exports exactly what prometheus_client's Histogram would."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Histogram, generate_latest

from rpc.metrics import LATENCY_BUCKETS, LatencyHistograms


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["e0", "e1"]),
                       st.lists(st.sampled_from([0.0, *LATENCY_BUCKETS, 9.0]) | st.floats(0, 10), max_size=40),
                       max_size=2))
def test_exposition_matches_prometheus_client_histogram(samples: dict[str, list[float]]) -> None:
    ours, theirs = CollectorRegistry(), CollectorRegistry()
    fast = LatencyHistograms()
    ours.register(fast)
    reference = Histogram("arbiter_rpc_latency_seconds", "JSON-RPC request latency, by endpoint", ["endpoint"],
                          buckets=LATENCY_BUCKETS, registry=theirs)
    for endpoint, values in samples.items():
        child, ref = fast.child(endpoint), reference.labels(endpoint)
        for value in values:
            child.observe(value)
            ref.observe(value)

    def lines(registry: CollectorRegistry) -> list[str]:
        return sorted(line for line in generate_latest(registry).decode().splitlines()
                      if line.startswith("arbiter_rpc_latency_seconds_") and "_created" not in line)

    assert lines(ours) == lines(theirs)
