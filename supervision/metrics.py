"""The supervision runtime's Prometheus metrics: restarts per actor path, counted where they happen.

Paths are the tree's own (a fixed set per configuration, so a bounded label); a restart is counted once
the new incarnation has started (a restart that failed is retried and counted when it succeeds).
"""

from __future__ import annotations

from prometheus_client import Counter

RESTARTS = Counter("arbiter_actor_restarts_total", "Actor restarts by its supervisor, by actor path", ["path"])


def restarted(path: str) -> None:
    RESTARTS.labels(path).inc()
