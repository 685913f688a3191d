"""The apprise channel: its result classified, and the running channel against a real loopback webhook.

apprise's json:// plugin posts to the fake services' /apprise/<hook>, which answers as a webhook
does (200, 429 with Retry-After, 5xx, 404).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from adapters.alert_apprise import AppriseService
from alerting.apprise_replies import APPRISE_429_MAX_PARK_S, APPRISE_429_PARK_S, classify, park_after_429
from alerting.replies import ReplyKind
from bot.alerts import alerts_config_problem, configured_channels
from devnet.fake_services import FakeServices, Fault
from protocol.alerts import AlertType, ChannelKind, GetAlerts, Notification, NotificationLine, Priority, SendAlert
from protocol.config import load_config
from protocol.secrets import Secret
from supervision import Handle
from tests.waiting import wait_until

from .conftest import ROUTER, AlertsRun

CHANNEL = Handle("/alerts/channel:apprise")
HOOK_SECRET = "ops-hook-secret-7f3a"  # the path segment of FakeServices.apprise_url


@pytest.mark.parametrize(("status", "logs", "kind"), [
    ("SUCCESS", [], ReplyKind.DELIVERED),
    ("TIMEOUT", ["timed out"], ReplyKind.RETRY),
    ("NOMATCH", [], ReplyKind.PERMANENT),
    ("FAILURE", ["Failed to send JSON POST notification: error=429."], ReplyKind.THROTTLED),
    ("FAILURE", ["Failed to send JSON POST notification: Servers are overloaded., error=503."], ReplyKind.RETRY),
    ("FAILURE", ["Failed to send JSON POST notification: Page not found., error=404."], ReplyKind.GONE),
    ("FAILURE", ["Failed to send JSON POST notification: Unauthorized., error=401."], ReplyKind.GONE),
    ("FAILURE", ["Failed to send JSON POST notification: Bad Request., error=400."], ReplyKind.PERMANENT),
    ("FAILURE", ["A Connection error occurred sending JSON POST notification."], ReplyKind.RETRY),
    ("FAILURE", [], ReplyKind.RETRY),
])
def test_apprise_results_are_classified_like_the_other_services(status: str, logs: list[str],
                                                               kind: ReplyKind) -> None:
    assert classify(status, logs).kind is kind


def test_a_secret_in_an_apprise_log_line_is_masked() -> None:
    Secret("json://127.0.0.1/apprise/very-secret-hook-123")  # registered like a configured URL
    reply = classify("FAILURE", ["could not reach json://127.0.0.1/apprise/very-secret-hook-123, error=503."])
    assert reply.kind is ReplyKind.RETRY and "very-secret-hook-123" not in reply.detail


def test_apprise_urls_turn_the_channel_on_and_a_bad_one_stops_the_bot_with_one_line() -> None:
    good = load_config({"APPRISE_URLS": "json://127.0.0.1:9/hook, form://127.0.0.1:9/other"})
    assert ChannelKind.APPRISE in configured_channels(good.alerts)
    assert alerts_config_problem(good.alerts) is None
    assert good.alerts.apprise_urls is not None
    assert len(AppriseService(good.alerts.apprise_urls).build(_notification())) == 2  # one request per URL
    bad = load_config({"APPRISE_URLS": "json://127.0.0.1:9/hook nosuchscheme://token-abcdef123456"})
    problem = alerts_config_problem(bad.alerts)
    assert problem is not None and problem.startswith("config error: APPRISE_URLS=*** entry 2 of 2")
    assert "token-abcdef123456" not in problem and "\n" not in problem


def _notification() -> Notification:
    return Notification(ref="1", channel=ChannelKind.APPRISE, type=AlertType.RISK, priority=Priority.HIGH,
                        title="limit hit", lines=(NotificationLine(alert_id=1, priority=Priority.HIGH,
                                                                   title="limit hit"),))


@pytest.fixture
def apprise_run(services: FakeServices, tmp_path: Path) -> Iterator[AlertsRun]:
    run = AlertsRun({"DATA_DIR": str(tmp_path), "APPRISE_URLS": services.apprise_url})
    yield run
    run.stop()


def _apprise_statuses() -> list[str]:
    return [d.status for v in ROUTER.ask(GetAlerts(limit=50)).recent for d in v.deliveries if d.channel == "apprise"]


def test_through_apprise_a_429_and_a_503_are_waited_out_and_the_alert_arrives_once(
        apprise_run: AlertsRun, services: FakeServices) -> None:
    services.script("apprise", Fault("429", retry_after=0.5), Fault("503"))
    apprise_run.start()
    ROUTER.tell(SendAlert(type=AlertType.RISK, title="daily loss limit hit", priority=Priority.HIGH,
                          data={"loss_eth": "1.5"}, key="daily-loss"))
    (got,) = wait_until(lambda: services.accepted("apprise"), timeout=30, what="the alert through apprise")
    wait_until(_apprise_statuses, until=lambda s: s == ["delivered"], what="the delivery settled")
    payload = json.loads(got.body)
    assert "daily loss limit hit" in payload["title"] and "loss_eth: 1.5" in payload["message"]
    assert payload["type"] == "warning"  # a high alert
    with services.lock:
        assert services.state["apprise"].requests == 3  # 429, 503, then the one that was taken
    assert services.violations() == 0  # nothing sent before the 429's retry_after ended
    assert len(services.accepted("apprise")) == 1


def test_a_dead_apprise_target_opens_the_breaker_and_a_deleted_one_stops_the_channel(
        apprise_run: AlertsRun, services: FakeServices) -> None:
    services.script("apprise", *[Fault("503")] * 3, Fault("404"))
    apprise_run.start()
    ROUTER.tell(SendAlert(type=AlertType.NETWORK, title="all endpoints down", priority=Priority.HIGH, key="down"))
    wait_until(CHANNEL.snapshot, until=lambda s: s is not None and s.breaker == "OPEN", timeout=30,
               what="the apprise breaker open after 3 failures")
    assert services.accepted("apprise") == []
    wait_until(CHANNEL.snapshot, until=lambda s: s.disabled != "", timeout=60,
               what="the probe's 404 stopping the channel")
    snap = CHANNEL.snapshot()
    assert snap.breaker == "QUARANTINED" and "404" in snap.disabled
    details = [d.detail for v in ROUTER.ask(GetAlerts(limit=50)).recent for d in v.deliveries]
    assert all(HOOK_SECRET not in text for text in (*details, snap.disabled, snap.reason))


def test_a_429_through_apprise_parks_longer_each_time_in_a_row() -> None:
    parks = [park_after_429(n) for n in range(1, 8)]
    assert parks == [APPRISE_429_PARK_S * 2 ** i for i in range(4)] + [APPRISE_429_MAX_PARK_S] * 3
    assert park_after_429(10**6) == APPRISE_429_MAX_PARK_S


def test_a_429_with_a_retry_after_shorter_than_the_park_is_waited_out(
        apprise_run: AlertsRun, services: FakeServices) -> None:
    # apprise drops the Retry-After header: the channel parks APPRISE_429_PARK_S, which covers this 4 s one
    services.script("apprise", Fault("429", retry_after=4.0), Fault("429", retry_after=4.0))
    apprise_run.start()
    ROUTER.tell(SendAlert(type=AlertType.RISK, title="position limit hit", priority=Priority.HIGH, key="pos"))
    wait_until(lambda: services.accepted("apprise"), timeout=60, what="the alert through apprise after two 429s")
    wait_until(_apprise_statuses, until=lambda s: s == ["delivered"], what="the delivery settled")
    with services.lock:
        assert services.state["apprise"].requests == 3
    assert services.violations() == 0  # no request before a 429's Retry-After ended
    assert len(services.accepted("apprise")) == 1
