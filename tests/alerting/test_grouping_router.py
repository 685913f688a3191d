"""The router settles what its grouping settles: a re-fire, and a fire cleared before its notice, never stay
pending; an alert pending in its group when the router stops is in a due group after the restart."""

from __future__ import annotations

from alerting.grouping import GroupTimers
from protocol.alerts import AlertType, GetAlerts, Priority, SendAlert
from tests.waiting import wait_until

from .conftest import ROUTER, AlertsRun


def _statuses() -> dict[str, str]:
    return {v.title: v.status for v in ROUTER.ask(GetAlerts(limit=50)).recent}


def test_a_re_fire_is_merged_and_a_fire_cleared_before_its_notice_is_cancelled(alerts: AlertsRun) -> None:
    # a long group_wait holds the first notice back; no dedup window so the re-fire is accepted
    alerts.start(dedup_window_s=0.0, timers=GroupTimers(group_wait_s=3600, group_interval_s=3600,
                                                         repeat_interval_s=7200))
    for title, key, resolved in [("trend up", "trend", False), ("trend up again", "trend", False),
                                 ("flap", "flap", False), ("flap cleared", "flap", True)]:
        ROUTER.tell(SendAlert(type=AlertType.PERFORMANCE, priority=Priority.LOW, title=title, key=key,
                              resolved=resolved))
    got = wait_until(_statuses, until=lambda s: len(s) == 4, what="the four alerts accepted")
    assert got == {"trend up": "pending", "trend up again": "merged", "flap": "cancelled",
                   "flap cleared": "cancelled"}


def test_an_alert_pending_at_shutdown_is_told_after_the_restart(alerts: AlertsRun) -> None:
    alerts.start(timers=GroupTimers(group_wait_s=3600, group_interval_s=3600, repeat_interval_s=7200))
    ROUTER.tell(SendAlert(type=AlertType.RISK, priority=Priority.MEDIUM, title="exposure high", key="exposure"))
    wait_until(_statuses, until=lambda s: s.get("exposure high") == "pending", what="the alert held in its group")
    alerts.stop()
    alerts.start(timers=GroupTimers(group_wait_s=0, group_interval_s=0, repeat_interval_s=7200))
    wait_until(_statuses, until=lambda s: s.get("exposure high") == "notified", timeout=60,
               what="the alert held at shutdown told after the restart")
