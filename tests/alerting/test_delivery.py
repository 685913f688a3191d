"""The router and the channel actors against real local servers (aiohttp fakes and aiosmtpd)."""

from __future__ import annotations

import json

import pytest

from devnet.fake_services import FakeServices, FakeSmtp, Fault
from protocol.alerts import AddSilence, AlertType, ChannelKind, GetAlerts, Priority, SendAlert, SendTestAlert
from supervision import Handle
from tests.waiting import wait_until

from .conftest import ROUTER, AlertsRun

WEB = ("discord", "telegram", "slack")


def _refs(services: FakeServices, service: str) -> list[str]:
    return [r for a in services.accepted(service) for r in a.refs]


def _statuses() -> dict[str, int]:
    counts: dict[str, int] = {}
    for view in ROUTER.ask(GetAlerts(limit=1000)).recent:
        for d in view.deliveries:
            counts[d.status] = counts.get(d.status, 0) + 1
    return counts


def test_a_critical_alert_reaches_every_channel_once(alerts: AlertsRun, services: FakeServices,
                                                     smtp: FakeSmtp) -> None:
    alerts.start()
    ROUTER.tell(SendAlert(type=AlertType.RISK, title="EMERGENCY STOP: drawdown 31%", priority=Priority.CRITICAL,
                          data={"drawdown": 0.31}, key="emergency-stop"))
    for service in (*WEB, "twilio"):
        wait_until(lambda s=service: services.accepted(s), what=f"{service} delivery")
    wait_until(lambda: smtp.messages, what="the email")
    wait_until(_statuses, until=lambda c: c.get("delivered") == 6, what="six deliveries settled")
    for service in (*WEB, "twilio"):
        assert len(services.accepted(service)) == 1
    assert "EMERGENCY STOP" in smtp.messages[0][1]
    body = json.loads(services.accepted("discord")[0].body)
    assert body["embeds"][0]["color"] == 0xE74C3C


def test_429_retry_after_is_honoured_and_nothing_is_lost_or_doubled(alerts: AlertsRun,
                                                                    services: FakeServices) -> None:
    for service in WEB:
        services.script(service, Fault("429", retry_after=0.6), Fault("429", retry_after=0.3))
    services.script("discord", Fault("500"), Fault("malformed"), Fault("slow", delay_s=0.3))
    alerts.start()
    for i in range(30):
        ROUTER.tell(SendAlert(type=AlertType.TRADE, title=f"trade {i} failed", priority=Priority.HIGH,
                              key=f"trade-{i}"))
    wait_until(_statuses, until=lambda c: sum(c.values()) >= 30 * 5 and set(c) <= {"delivered"},
               timeout=30, what="every delivery settled and delivered")
    assert services.violations() == 0  # no request before its retry_after ended
    for service in WEB:  # (high alerts do not go to SMS)
        refs = _refs(services, service)
        bodies = [a.body for a in services.accepted(service)]
        assert len(bodies) == len(set(bodies)), f"{service} got a message twice"
        assert refs
    rows = ROUTER.ask(GetAlerts(limit=1000)).recent
    assert len(rows) == 30 and all(v.status == "notified" for v in rows)


def test_a_dead_service_opens_its_breaker_and_the_others_keep_delivering(alerts: AlertsRun,
                                                                         services: FakeServices) -> None:
    services.script("slack", *[Fault("503")] * 50)
    alerts.start()
    for i in range(4):
        ROUTER.tell(SendAlert(type=AlertType.NETWORK, title=f"endpoint {i} down", priority=Priority.HIGH,
                              key=f"ep-{i}"))
    wait_until(lambda: Handle("/alerts/channel:slack").snapshot(), until=lambda s: s.breaker == "OPEN",
               timeout=20, what="slack's breaker open")
    wait_until(lambda: len(services.accepted("discord")) + len(services.accepted("telegram")), until=lambda n: n >= 2,
               what="discord and telegram delivering")
    assert services.accepted("slack") == []


def test_a_deleted_discord_webhook_stops_the_channel_and_says_so_elsewhere(alerts: AlertsRun,
                                                                           services: FakeServices) -> None:
    services.script("discord", *[Fault("404")] * 5)
    alerts.start()
    ROUTER.tell(SendAlert(type=AlertType.SYSTEM, title="hello", priority=Priority.HIGH))
    wait_until(lambda: Handle("/alerts/channel:discord").snapshot(), until=lambda s: s.disabled != "",
               what="discord disabled")
    wait_until(lambda: [a for a in services.accepted("telegram") if "discord alerts stopped" in a.body],
               timeout=15, what="the others told that discord stopped")
    assert Handle("/alerts/channel:discord").snapshot().breaker == "QUARANTINED"


def test_telegram_migration_and_blocked_bot(alerts: AlertsRun, services: FakeServices) -> None:
    services.script("telegram", Fault("migrate", new_chat_id="-100555"))
    alerts.start()
    ROUTER.tell(SendAlert(type=AlertType.SYSTEM, title="moved", priority=Priority.HIGH))
    wait_until(lambda: services.accepted("telegram"), what="delivery after migration")
    assert json.loads(services.accepted("telegram")[0].body)["chat_id"] == "-100555"
    services.script("telegram", Fault("403"))
    ROUTER.tell(SendAlert(type=AlertType.SYSTEM, title="blocked now", priority=Priority.HIGH))
    wait_until(lambda: Handle("/alerts/channel:telegram").snapshot(), until=lambda s: "blocked" in s.disabled,
               what="telegram disabled as blocked")


def test_silence_holds_back_notifications_and_dedup_drops_repeats(alerts: AlertsRun,
                                                                  services: FakeServices) -> None:
    alerts.start()
    silence = ROUTER.ask(AddSilence(matcher="type=network", duration_s=600, reason="maintenance"))
    assert silence.id >= 1
    ROUTER.tell(SendAlert(type=AlertType.NETWORK, title="rpc:secondary quarantined", priority=Priority.HIGH))
    for _ in range(5):
        ROUTER.tell(SendAlert(type=AlertType.RISK, title="limit hit: daily loss", priority=Priority.HIGH))
    wait_until(lambda: services.accepted("discord"), what="the risk alert")
    report = ROUTER.ask(GetAlerts(limit=10))
    assert report.deduplicated == 4
    statuses = {v.title: v.status for v in report.recent}
    assert statuses["rpc:secondary quarantined"] == "silenced"
    assert all("quarantined" not in a.body for a in services.accepted("discord"))


def test_test_alert_goes_to_that_channel_only(alerts: AlertsRun, services: FakeServices) -> None:
    alerts.start()
    answer = ROUTER.ask(SendTestAlert(channel=ChannelKind.SLACK))
    assert "queued for slack" in answer
    wait_until(lambda: services.accepted("slack"), what="the test alert")
    assert services.accepted("discord") == [] and services.accepted("telegram") == []


@pytest.mark.parametrize("channel", ["sms"])
def test_an_opted_out_recipient_is_a_permanent_failure(alerts: AlertsRun, services: FakeServices,
                                                       channel: str) -> None:
    services.script("twilio", Fault("optout"))
    alerts.start()
    ROUTER.tell(SendAlert(type=AlertType.RISK, title="stop", priority=Priority.CRITICAL))
    wait_until(lambda: ROUTER.ask(GetAlerts(limit=5)).recent[0].deliveries,
               until=lambda ds: any(d.channel == channel and d.status == "failed" for d in ds),
               what="the sms delivery reported failed")
    (sms,) = [d for d in ROUTER.ask(GetAlerts(limit=5)).recent[0].deliveries if d.channel == channel]
    assert "21610" in sms.detail
