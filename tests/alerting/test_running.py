"""Escalation, a TOML rule and the delivery deadline, through the running router and channel actors.

The services are the local fakes (aiohttp, aiosmtpd). Times are only ever checked from below (an
escalation or a rule never comes early); how soon they come is the tick's business, not a test's.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters import alert_metrics
from alerting.routing import Route
from devnet.fake_services import FakeServices, FakeSmtp, Fault
from protocol.alerts import AlertType, ChannelKind, GetAlerts, Priority, SendAlert
from protocol.network import EndpointRoute, RoutingTable
from supervision import Handle, registry
from tests.waiting import wait_until

from .conftest import ROUTER, AlertsRun

NETWORK_ROUTER = "/network/router"


def _deliveries(tmp_path: Path) -> list[tuple[str, str, float, str]]:
    """(channel, status, created_at, detail) of every delivery row, oldest first, read from the outbox file."""
    db = sqlite3.connect(tmp_path / "alerts-outbox.sqlite3")
    try:
        return db.execute("SELECT channel, status, created_at, detail FROM deliveries ORDER BY id").fetchall()
    finally:
        db.close()


def _use_toml(alerts: AlertsRun, tmp_path: Path, text: str) -> None:
    """The run reads this TOML config (ARBITER_CONFIG) when it starts."""
    toml = tmp_path / "arbiter.toml"
    toml.write_text(text)
    alerts.env["ARBITER_CONFIG"] = str(toml)


def _requests(services: FakeServices, service: str) -> int:
    with services.lock:
        return services.state[service].requests


def test_an_undelivered_critical_alert_escalates_along_its_chain_on_time(alerts: AlertsRun, services: FakeServices,
                                                                         smtp: FakeSmtp, tmp_path: Path) -> None:
    services.script("telegram", *[Fault("503")] * 200)  # the first two pagers are down
    services.script("slack", *[Fault("503")] * 200)
    after_s = 2.0
    alerts.start(routes=(Route(ChannelKind.LOG, Priority.LOW), Route(ChannelKind.TELEGRAM, Priority.CRITICAL)),
                 escalation_chain=(ChannelKind.TELEGRAM, ChannelKind.SLACK, ChannelKind.SMS),
                 escalate_after_s=after_s)
    ROUTER.tell(SendAlert(type=AlertType.RISK, title="EMERGENCY STOP: daily loss limit", priority=Priority.CRITICAL,
                          key="estop"))
    wait_until(lambda: services.accepted("twilio"), timeout=60, what="the alert escalated to SMS")
    wait_until(lambda: ROUTER.ask(GetAlerts(limit=5)).recent[0].deliveries,
               until=lambda ds: any(d.channel == "sms" and d.status == "delivered" for d in ds),
               what="the sms delivery settled")  # and committed: the outbox file shows every row
    rows = _deliveries(tmp_path)
    human = [(channel, created) for channel, _, created, _ in rows if channel != "log"]
    assert [c for c, _ in human] == ["telegram", "slack", "sms"], rows
    (_, telegram_at), (_, slack_at), (_, sms_at) = human
    assert slack_at - telegram_at >= after_s and sms_at - slack_at >= after_s, human  # never early
    assert "EMERGENCY STOP" in services.accepted("twilio")[0].body
    assert services.accepted("telegram") == [] and services.accepted("slack") == []
    assert services.accepted("discord") == [] and smtp.messages == []  # not on the chain: never told


@pytest.fixture
def network_table() -> Iterator[None]:
    yield
    registry.publish(NETWORK_ROUTER, None)


def _table(endpoints: int) -> RoutingTable:
    routes = tuple(EndpointRoute(name=f"e{i}", url=f"http://127.0.0.1:{8545 + i}", hedge_delay_s=0.1)
                   for i in range(endpoints))
    return RoutingTable(chain_id=31337, routes=routes)


def test_a_toml_rule_fires_through_the_running_router_only_after_its_for(alerts: AlertsRun, services: FakeServices,
                                                                          tmp_path: Path,
                                                                          network_table: None) -> None:
    _use_toml(alerts, tmp_path, '''
[[alerts.rules]]
name = "few-endpoints"
when = "routable_endpoints < 2"
for = "2s"
type = "network"
priority = "high"
title = "fewer than two RPC endpoints routable"
''')
    registry.publish(NETWORK_ROUTER, _table(3))  # what the network router publishes; read with no mailbox hop
    alerts.start()
    wait_until(lambda: ROUTER.ask(GetAlerts(limit=5)), until=lambda r: r.channels, what="the router up")
    dropped_at = time.monotonic()
    registry.publish(NETWORK_ROUTER, _table(1))
    fired = wait_until(lambda: [a for a in services.accepted("slack") if "fewer than two RPC" in a.body],
                       timeout=30, what="the rule's alert on slack")
    assert fired[0].at - dropped_at >= 2.0, "the rule fired before its condition held for 2 s"
    assert "few-endpoints" in fired[0].body  # the alert names the rule that fired
    registry.publish(NETWORK_ROUTER, _table(3))
    wait_until(lambda: [a for a in services.accepted("slack") if "resolved" in a.body.lower()], timeout=30,
               what="the resolved notice once the condition cleared")
    assert len(fired) == 1


def test_an_alert_past_its_delivery_deadline_is_expired_counted_and_never_sent_late(
        alerts: AlertsRun, services: FakeServices, tmp_path: Path) -> None:
    park_s, deadline_s = 6.0, 2.0
    services.script("slack", Fault("429", retry_after=park_s))  # slack asks us to wait past the deadline
    expired_before = alert_metrics.FAILED.labels("slack", "expired")._value.get()
    alerts.start(routes=(Route(ChannelKind.LOG, Priority.LOW), Route(ChannelKind.SLACK, Priority.LOW)),
                 buckets={}, global_bucket=None, delivery_deadline_s=deadline_s)
    ROUTER.tell(SendAlert(type=AlertType.TRADE, title="stale fill one", priority=Priority.HIGH, key="one"))
    wait_until(lambda: _requests(services, "slack"), what="the first request (answered 429)")
    ROUTER.tell(SendAlert(type=AlertType.TRADE, title="stale fill two", priority=Priority.HIGH, key="two"))
    wait_until(lambda: [r for r in _deliveries(tmp_path) if r[0] == "slack"],
               until=lambda rows: len(rows) == 2 and all(r[1] == "expired" for r in rows), timeout=30,
               what="both slack deliveries expired")
    # one was in the channel's hands (parked behind the 429), the other still queued in the router
    assert alert_metrics.FAILED.labels("slack", "expired")._value.get() - expired_before == 2
    assert services.accepted("slack") == [] and _requests(services, "slack") == 1
    assert not Handle("/alerts/channel:slack").snapshot().busy
    with services.lock:
        park_ends = services.state["slack"].blocked_until
    wait_until(time.monotonic, until=lambda now: now > park_ends, timeout=30, what="slack's retry_after over")
    ROUTER.tell(SendAlert(type=AlertType.TRADE, title="fresh fill", priority=Priority.HIGH, key="three"))
    (sent,) = wait_until(lambda: services.accepted("slack"), timeout=30, what="the next alert delivered")
    assert "fresh fill" in sent.body and "stale fill" not in sent.body  # the expired ones do not ride along
    assert services.violations() == 0


def test_toml_routes_decide_who_hears_what_in_the_running_router(alerts: AlertsRun, services: FakeServices,
                                                                 tmp_path: Path) -> None:
    _use_toml(alerts, tmp_path, '''
[[alerts.routes]]
channel = "sms"
min_priority = "high"
types = ["risk"]

[[alerts.routes]]
channel = "slack"
min_priority = "critical"
''')
    alerts.start(buckets={}, global_bucket=None)
    ROUTER.tell(SendAlert(type=AlertType.RISK, title="daily loss limit hit", priority=Priority.HIGH, key="loss"))
    ROUTER.tell(SendAlert(type=AlertType.NETWORK, title="endpoint e1 quarantined", priority=Priority.HIGH, key="q"))
    wait_until(lambda: " ".join(a.body for a in services.accepted("discord")),  # one message may carry both
               until=lambda text: "daily loss limit hit" in text and "endpoint e1 quarantined" in text, timeout=30,
               what="both alerts on discord (its default route)")
    wait_until(lambda: services.accepted("twilio"), timeout=30, what="the risk alert on SMS (its TOML route)")
    wait_until(lambda: ROUTER.ask(GetAlerts(limit=5)).recent,
               until=lambda views: all(d.status == "delivered" for v in views for d in v.deliveries), timeout=30,
               what="every delivery settled")
    heard = {v.title: sorted(d.channel for d in v.deliveries) for v in ROUTER.ask(GetAlerts(limit=5)).recent}
    assert heard["daily loss limit hit"] == ["discord", "email", "log", "sms", "telegram"]
    assert heard["endpoint e1 quarantined"] == ["discord", "email", "log", "telegram"]  # not a risk: no SMS
    assert services.accepted("slack") == []  # slack hears only critical alerts now
    assert "daily loss limit hit" in services.accepted("twilio")[0].body
