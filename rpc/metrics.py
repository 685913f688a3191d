"""Prometheus metrics of the network layer, registered once per process, and the /metrics server.

Per endpoint: requests, errors by kind, latency histogram, hedges fired and won, breaker state
(one gauge per state, 1 for the current one, the usual enum-as-gauges encoding).

Every component keeps its metrics in one module like this one (actors/risk_metrics.py,
actors/market_metrics.py, supervision/metrics.py), under the scheme the README's "Metrics" section
describes: the `arbiter_` prefix, base units in the name, counters ending in `_total`.
"""

from __future__ import annotations

import json
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import REGISTRY, Counter, Gauge, disable_created_metrics, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer
from prometheus_client.metrics_core import HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from protocol.network import RequestOutcome

BREAKER_STATES = ("CLOSED", "OPEN", "HALF_OPEN", "LAGGING", "QUARANTINED")

REQUESTS = Counter("arbiter_rpc_requests_total", "JSON-RPC requests sent, by endpoint", ["endpoint"])
ERRORS = Counter(
    "arbiter_rpc_errors_total", "JSON-RPC requests that failed, by endpoint and fault kind", ["endpoint", "kind"]
)
LATENCY_BUCKETS = (0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


class LatencyBuckets:
    """One endpoint's latency histogram, written by its actor alone, so without a lock."""

    def __init__(self) -> None:
        self.counts = [0] * (len(LATENCY_BUCKETS) + 1)  # the last one is +Inf
        self.sum = 0.0

    def observe(self, latency_s: float) -> None:
        self.counts[bisect_left(LATENCY_BUCKETS, latency_s)] += 1  # bucket "le" counts values <= le
        self.sum += latency_s


class LatencyHistograms(Collector):
    """`arbiter_rpc_latency_seconds` per endpoint, exported at scrape time.

    prometheus_client's Histogram takes a mutex on every observation: 0.82 us against 0.17 us here
    (`benchmarks/bench_transport.py`), paid for every request in the endpoint actors, which share the
    GIL with every caller. Each endpoint actor is the single writer of its buckets; a scrape reads
    them as they stand."""

    def __init__(self) -> None:
        self.by_endpoint: dict[str, LatencyBuckets] = {}

    def child(self, endpoint: str) -> LatencyBuckets:
        return self.by_endpoint.setdefault(endpoint, LatencyBuckets())

    def collect(self) -> Iterator[Metric]:
        family = HistogramMetricFamily("arbiter_rpc_latency_seconds", "JSON-RPC request latency, by endpoint",
                                       labels=["endpoint"])
        for endpoint, child in list(self.by_endpoint.items()):
            counts, running, buckets = list(child.counts), 0, []
            for bound, count in zip((*LATENCY_BUCKETS, float("inf")), counts):
                running += count
                buckets.append(("+Inf" if bound == float("inf") else repr(bound), running))
            family.add_metric([endpoint], buckets, child.sum)
        yield family


LATENCY = LatencyHistograms()
REGISTRY.register(LATENCY)
HEDGES_FIRED = Counter("arbiter_rpc_hedges_fired_total", "Hedged requests sent, by the endpoint they went to",
                       ["endpoint"])
HEDGES_WON = Counter("arbiter_rpc_hedges_won_total", "Hedged requests that answered first, by endpoint",
                     ["endpoint"])
BREAKER = Gauge("arbiter_rpc_breaker_state", "1 for the endpoint's current breaker state", ["endpoint", "state"])

_server_lock = threading.Lock()
_server_port: int | None = None


class EndpointMetrics:
    """One endpoint's metric children, looked up once (a labels() lookup per request costs more)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.requests = REQUESTS.labels(endpoint)
        self.latency = LATENCY.child(endpoint)
        self.errors: dict[str, Any] = {}

    def record(self, latency_s: float, fault: str | None) -> None:
        self.requests.inc()
        self.latency.observe(latency_s)
        if fault is not None:
            self._error(fault)

    def record_batch(self, outcomes: Iterable[RequestOutcome]) -> None:
        """Many outcomes with one counter increment (each increment takes prometheus_client's mutex)."""
        count = 0
        for outcome in outcomes:
            count += 1
            self.latency.observe(outcome.latency_s)
            if outcome.fault is not None:
                self._error(outcome.fault.value)
        self.requests.inc(count)

    def _error(self, fault: str) -> None:
        counter = self.errors.get(fault)
        if counter is None:
            counter = self.errors[fault] = ERRORS.labels(self.endpoint, fault)
        counter.inc()


def for_endpoint(endpoint: str) -> EndpointMetrics:
    return EndpointMetrics(endpoint)


def record_hedge(endpoint: str, won: bool) -> None:
    (HEDGES_WON if won else HEDGES_FIRED).labels(endpoint).inc()


def record_breaker(endpoint: str, state: str) -> None:
    for name in BREAKER_STATES:
        BREAKER.labels(endpoint, name).set(1.0 if name == state else 0.0)


#: What /health answers with: (HTTP status, JSON body). Set by start_metrics_server's caller.
HealthAnswer = Callable[[], tuple[int, bytes]]


def _app(health: HealthAnswer | None) -> Callable[..., Iterable[bytes]]:
    """/health from `health` (when given), everything else is prometheus_client's /metrics app."""
    metrics_app = make_wsgi_app(REGISTRY)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/health" and health is not None:
            try:
                code, body = health()
            except Exception as exc:  # a broken check is an unhealthy bot, never a dead endpoint
                code, body = 503, json.dumps({"overall": "unhealthy", "error": f"{type(exc).__name__}: {exc}"}).encode()
            start_response(f"{code} {HTTPStatus(code).phrase}",
                           [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
            return [body]
        result: Iterable[bytes] = metrics_app(environ, start_response)
        return result

    return app


def start_metrics_server(port: int, host: str = "127.0.0.1", health: HealthAnswer | None = None) -> int:
    """Serve /metrics (and /health, when `health` is given) on host:port, loopback by default; idempotent.
    Returns the port served."""
    global _server_port
    with _server_lock:
        if _server_port is None:
            # prometheus_client exports each counter's creation time as a separate `<name>_created`
            # gauge in the text format: one unit-less series per counter that Prometheus stores too
            disable_created_metrics()
            _server_port = serve_metrics(port, host, health).server_port
        return _server_port


def serve_metrics(port: int, host: str = "127.0.0.1", health: HealthAnswer | None = None) -> WSGIServer:
    """A new /metrics (+ /health) server on its own thread; `shutdown()` and `server_close()` end it."""
    server = make_server(host, port, _app(health), ThreadingWSGIServer, handler_class=_Quiet)
    threading.Thread(target=server.serve_forever, name="arbiter-metrics", daemon=True).start()
    return server


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # scrapes every few seconds: not log lines
        pass
