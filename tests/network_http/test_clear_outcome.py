"""rpc.commands.clear_outcome: what became of an operator's clear, from the endpoint's snapshots."""

from __future__ import annotations

import pytest

from protocol.network import EndpointSnapshot
from rpc.commands import clear_outcome


def snap(breaker: str, changes: int, checked: bool, reason: str = "") -> EndpointSnapshot:
    return EndpointSnapshot(name="e", url="http://x", chain_id=1, region="", priority=0, breaker=breaker,
                            state_changes=changes, checked=checked, reason=reason)


QUARANTINED = snap("QUARANTINED", 4, False, "chain 5")


@pytest.mark.parametrize(("now", "outcome"), [
    (QUARANTINED, None),  # the clear not handled yet
    (snap("STARTING", 5, False), None),  # cleared, its health check still out
    (snap("CLOSED", 5, True), "passed"),
    (snap("LAGGING", 6, True), "passed"),
    (snap("QUARANTINED", 6, False, "chain 5"), "failed"),  # put straight back
    (snap("OPEN", 6, False, "connection"), "failed"),
])
def test_outcomes_of_clearing_a_quarantined_endpoint(now: EndpointSnapshot, outcome: str | None) -> None:
    assert clear_outcome(QUARANTINED, now) == outcome


def test_clearing_a_healthy_endpoint_passes_once_checked() -> None:
    healthy = snap("CLOSED", 2, True)
    assert clear_outcome(healthy, healthy) == "passed"
