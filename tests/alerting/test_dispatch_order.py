"""A delivery the router sends a channel that is still starting waits in the channel's mailbox.

`AlertChannel.on_start` tells the router `ChannelStarted`, and the router at once hands it the queued
notices. Before the supervision fix the channel's path was bound only once on_start had returned, so on
a loaded machine the router could find nobody there and strand the channel (the SIGKILL-restart test's
stuck notice: its row stayed `queued`). Now the path resolves as soon as the channel has a mailbox.
This test forces the order instead of hoping for it, with the real supervisor starting the channel: the
channel holds its on_start open until the router's delivery has reached its mailbox, and that delivery
is then sent to the (fake) Slack once.
"""

from __future__ import annotations

import dataclasses
import threading
from pathlib import Path
from typing import Any

from actors.alert_channel import AlertChannel
from actors.alert_router import AlertRouter, RouterSettings, channel_path
from adapters.alert_services import SlackService
from alerting.grouping import GroupTimers
from alerting.routing import Route
from devnet.fake_services import FakeServices
from protocol.alerts import AlertType, ChannelKind, Deliver, GetAlerts, Priority, SendAlert
from protocol.envelope import Envelope
from protocol.secrets import Secret
from supervision import ChildSpec, Restart, registry, start_tree, stop_tree, supervisor_spec
from tests.waiting import wait_until

from .conftest import ROUTER

SLACK_PATH = channel_path(ChannelKind.SLACK)
#: A hang guard for the held start, under start_tree's own bound (30 s) so that a failure names what it waited for.
HOLD_S = 15.0

delivered_while_starting = threading.Event()


class SlackHeldInItsStart(AlertChannel):
    """Queues an alert for itself, announces itself (AlertChannel.on_start), then returns from on_start only
    once the router's Deliver sits in its mailbox, or after HOLD_S without one."""

    def on_start(self) -> None:
        ROUTER.tell(SendAlert(type=AlertType.SYSTEM, priority=Priority.HIGH, title="3 deliveries were in flight",
                              key="in-flight"))
        super().on_start()
        try:
            wait_until(lambda: any(_is_deliver(item) for item in list(self.actor_inbox.queue)), HOLD_S,
                       "the router's delivery queued behind on_start")
        except AssertionError:
            return  # the test fails on the event below, not on a start failure of the whole tree
        delivered_while_starting.set()


def _is_deliver(item: Any) -> bool:
    message = getattr(item, "message", None)
    return isinstance(message, Envelope) and isinstance(message.body, Deliver)


def _delivery_statuses() -> list[str]:
    return [d.status for v in ROUTER.ask(GetAlerts(limit=10)).recent for d in v.deliveries]


def test_a_delivery_to_a_channel_still_starting_waits_in_its_mailbox(services: FakeServices, tmp_path: Path) -> None:
    registry.publish(SLACK_PATH, None)  # no snapshot left over from another test's slack channel
    delivered_while_starting.clear()
    settings = RouterSettings(outbox_path=str(tmp_path / "outbox.sqlite3"), channels=(ChannelKind.SLACK,),
                              routes=(Route(ChannelKind.SLACK, Priority.LOW),), buckets={}, global_bucket=None,
                              timers=GroupTimers(group_wait_s=0.0, group_interval_s=0.0, repeat_interval_s=3600))
    router = ChildSpec("router", AlertRouter, kwargs={"settings": settings}, restart=Restart.PERMANENT)
    service = SlackService(Secret(services.slack_url))
    slack = ChildSpec("channel:slack", SlackHeldInItsStart, kwargs={"service": service}, start_timeout_s=HOLD_S * 2)
    alerts = dataclasses.replace(supervisor_spec("alerts", [router, slack]), start_timeout_s=HOLD_S * 2)
    start_tree(supervisor_spec("root", [alerts]))
    try:
        assert delivered_while_starting.is_set(), "the router's delivery did not reach the starting channel"
        wait_until(lambda: services.accepted("slack"), timeout=30, what="the notice delivered to slack")
        wait_until(_delivery_statuses, until=lambda s: s == ["delivered"], timeout=30, what="the delivery settled")
        assert len(services.accepted("slack")) == 1
    finally:
        stop_tree(10)
