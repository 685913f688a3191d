"""Prometheus counters of the alerting service (served with the others when ENABLE_PROMETHEUS is set)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

ACCEPTED = Counter("arbiter_alerts_accepted", "Alerts accepted into the outbox, by type and priority",
                   ["type", "priority"])
DEDUPLICATED = Counter("arbiter_alerts_deduplicated", "Alerts dropped as repeats within the dedup window",
                       ["type"])
SILENCED = Counter("arbiter_alerts_silenced", "Alerts accepted but not notified because a silence matched",
                   ["type"])
DELIVERED = Counter("arbiter_alerts_delivered", "Notifications a channel's service took, by channel", ["channel"])
FAILED = Counter("arbiter_alerts_failed", "Notifications reported failed, by channel and why "
                 "(failed: after retries or refused; unknown: in flight at a crash; expired: never sendable)",
                 ["channel", "reason"])
RATE_LIMITED = Counter("arbiter_alerts_rate_limited", "Sends held back by our token buckets or a service's 429, "
                       "by channel", ["channel"])
LATENCY = Histogram("arbiter_alerts_delivery_latency_seconds", "From acceptance to the service's answer, by channel",
                    ["channel"], buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800))
