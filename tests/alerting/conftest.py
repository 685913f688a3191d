"""The alerts subtree on its own (root -> alerts -> router + channels) against the local fake services."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
import pytest

from alerting.grouping import GroupTimers
from bot.alerts import alerts_spec
from devnet.alerts_burst import channel_env
from devnet.fake_services import FakeServices, FakeSmtp
from protocol.config import load_config
from supervision import Handle, start_tree, stop_tree, supervisor_spec

ROUTER = Handle("/alerts/router")


@pytest.fixture
def services() -> Iterator[FakeServices]:
    with FakeServices() as f:
        yield f


@pytest.fixture
def smtp() -> Iterator[FakeSmtp]:
    with FakeSmtp() as s:
        yield s


@dataclass
class AlertsRun:
    env: dict[str, str]

    def start(self, **overrides: Any) -> None:
        config = load_config(self.env)
        overrides.setdefault("timers", GroupTimers(group_wait_s=0.0, group_interval_s=0.0, repeat_interval_s=3600))
        start_tree(supervisor_spec("root", [alerts_spec(config, **overrides)]))

    def stop(self) -> None:
        stop_tree(10)


@pytest.fixture
def alerts(services: FakeServices, smtp: FakeSmtp, tmp_path: Path) -> Iterator[AlertsRun]:
    run = AlertsRun(channel_env(services, smtp, tmp_path))
    yield run
    run.stop()


def report() -> Any:
    return msgspec.to_builtins(ROUTER.ask(__import__("protocol.alerts", fromlist=["GetAlerts"]).GetAlerts(limit=500)))
