"""A channel that announces itself before its path is bound still gets its deliveries.

`AlertChannel.on_start` tells the router `ChannelStarted`; the channel's supervisor binds
`/alerts/channel:<kind>` only once on_start has returned. On a loaded machine the router can handle
the announcement in between, find nobody at the path, and (before the fix) forget the channel for
good: its rows stayed `queued` with attempts=1 (the SIGKILL-restart test's stuck notice). This test
forces that order instead of hoping for it: the channel's incarnation is started by hand, the router
handles its announcement while the path is unbound, and only then is the path bound.
"""

from __future__ import annotations

from pathlib import Path

from actors.alert_channel import AlertChannel
from actors.alert_router import AlertRouter, RouterSettings, channel_path
from adapters.alert_services import SlackService
from alerting.grouping import GroupTimers
from alerting.routing import Route
from devnet.fake_services import FakeServices
from protocol.alerts import AlertType, ChannelKind, GetAlerts, Priority, SendAlert
from protocol.secrets import Secret
from supervision import ActorContext, ChildSpec, Restart, registry, start_tree, stop_tree, supervisor_spec
from tests.waiting import wait_until

from .conftest import ROUTER

SLACK_PATH = channel_path(ChannelKind.SLACK)


def _router_only(tmp_path: Path) -> None:
    settings = RouterSettings(outbox_path=str(tmp_path / "outbox.sqlite3"), channels=(ChannelKind.SLACK,),
                              routes=(Route(ChannelKind.SLACK, Priority.LOW),), buckets={}, global_bucket=None,
                              timers=GroupTimers(group_wait_s=0.0, group_interval_s=0.0, repeat_interval_s=3600))
    router = ChildSpec("router", AlertRouter, kwargs={"settings": settings}, restart=Restart.PERMANENT)
    start_tree(supervisor_spec("root", [supervisor_spec("alerts", [router])]))


def _delivery_statuses() -> list[str]:
    return [d.status for v in ROUTER.ask(GetAlerts(limit=10)).recent for d in v.deliveries]


def test_an_announcement_handled_before_the_path_is_bound_does_not_strand_the_channel(
        services: FakeServices, tmp_path: Path) -> None:
    registry.publish(SLACK_PATH, None)  # no snapshot left over from another test's slack channel
    _router_only(tmp_path)
    ref = None
    try:
        ROUTER.tell(SendAlert(type=AlertType.SYSTEM, priority=Priority.HIGH, title="3 deliveries were in flight",
                              key="in-flight"))
        wait_until(lambda: ROUTER.ask(GetAlerts(limit=10)).queued, until=lambda q: q.get("slack") == 1,
                   what="the notice queued for slack")

        ctx = ActorContext(SLACK_PATH, "channel:slack", incarnation=1)
        ref = AlertChannel.start(ctx, service=SlackService(Secret(services.slack_url)))
        assert ctx.actor is not None and ctx.actor.ready.wait(30), "the slack channel did not start"
        # on_start has told ChannelStarted; an ask queues behind it, so once it is answered the router has
        # handled the announcement and tried the path while nobody was bound there.
        assert registry.lookup(SLACK_PATH) is None
        assert _delivery_statuses() == ["queued"]
        assert services.accepted("slack") == []

        registry.bind(SLACK_PATH, ref)  # what the supervisor does once on_start has returned
        wait_until(lambda: services.accepted("slack"), timeout=30, what="the notice delivered to slack")
        wait_until(_delivery_statuses, until=lambda s: s == ["delivered"], timeout=30, what="the delivery settled")
        assert len(services.accepted("slack")) == 1
    finally:
        if ref is not None:
            registry.unbind(SLACK_PATH, ref)
            ref.stop(block=True, timeout=10)
        stop_tree(10)
