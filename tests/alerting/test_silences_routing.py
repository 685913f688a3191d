"""Silence matchers and routing."""

from __future__ import annotations

import pytest

from alerting import routing
from protocol.alerts import AlertType, ChannelKind, Priority, SendAlert, Silence

C = ChannelKind


def test_matchers() -> None:
    alert = SendAlert(type=AlertType.NETWORK, title="Endpoint secondary quarantined", key="endpoint:secondary",
                      source="/network/rpc:secondary", priority=Priority.HIGH)
    assert routing.matches("type=network", alert)
    assert routing.matches("key=endpoint:*", alert)
    assert routing.matches("quarantined", alert)
    assert not routing.matches("priority=critical", alert)
    with pytest.raises(ValueError, match="unknown field 'colour'"):
        routing.check_matcher("colour=red")
    silence = Silence(id=1, matcher="type=network", until=100.0, reason="maintenance", created_at=0.0)
    assert routing.silenced_by([silence], alert, 99.0) == silence
    assert routing.silenced_by([silence], alert, 100.0) is None  # expired


def test_routes_and_escalation() -> None:
    routes = routing.default_routes([C.LOG, C.TELEGRAM, C.EMAIL, C.SMS])
    assert routing.route(routes, AlertType.RISK, Priority.LOW) == (C.LOG,)
    assert routing.route(routes, AlertType.RISK, Priority.HIGH) == (C.LOG, C.TELEGRAM, C.EMAIL)
    assert routing.route(routes, AlertType.RISK, Priority.CRITICAL) == (C.LOG, C.TELEGRAM, C.EMAIL, C.SMS)
    chain = routing.DEFAULT_ESCALATION_CHAIN
    assert routing.escalation_next(chain, [C.TELEGRAM, C.EMAIL, C.SMS], [C.TELEGRAM]) == C.EMAIL
    assert routing.escalation_next(chain, [C.TELEGRAM], [C.TELEGRAM]) is None
