"""SIGKILL mid-burst and restart: every accepted alert is delivered or reported, and none is sent twice."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from devnet.alerts_burst import audit, unsettled
from devnet.fake_services import FakeServices, FakeSmtp, Fault
from tests.waiting import wait_until

from .conftest import channel_env

ROOT = Path(__file__).resolve().parents[2]


def _child(env: dict[str, str], count: int) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "devnet.alerts_burst", json.dumps(env), str(count)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def _unsettled_by_channel(outbox: str) -> dict[str, int]:
    db = sqlite3.connect(outbox)
    try:
        rows = db.execute("SELECT channel || ' ' || status, COUNT(*) FROM deliveries "
                          "WHERE status IN ('queued', 'sending') GROUP BY channel, status").fetchall()
        pending = db.execute("SELECT COUNT(*) FROM alerts WHERE status = 'pending'").fetchone()[0]
    finally:
        db.close()
    return {**dict(rows), "alerts pending": pending}


def test_sigkill_mid_burst_loses_nothing_and_duplicates_nothing(services: FakeServices, smtp: FakeSmtp,
                                                                tmp_path: Path) -> None:
    env = channel_env(services, smtp, tmp_path)
    services.script("slack", Fault("429", retry_after=0.5), Fault("503"))
    first = _child(env, 300)
    try:
        wait_until(lambda: sum(len(services.accepted(s)) for s in ("discord", "telegram", "slack", "twilio")),
                   until=lambda n: n >= 4, timeout=60, what="the burst under way")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        if first.poll() is None:
            first.kill()
    outbox = str(tmp_path / "alerts-outbox.sqlite3")
    before = audit(outbox, services, smtp)
    assert before["accepted"] > 0
    second = _child(env, 0)
    try:
        out, err = second.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        second.kill()
        _, err = second.communicate(timeout=10)
        raise AssertionError(f"the restarted child did not drain: {unsettled(outbox)} still unsettled "
                             f"({_unsettled_by_channel(outbox)}); its stderr ends:\n{err[-3000:]}") from None
    assert second.returncode == 0, err[-2000:]
    assert "drained" in out
    assert unsettled(outbox) == 0
    after = audit(outbox, services, smtp)
    assert after["lost"] == 0, after
    assert after["duplicated"] == 0, after
    assert services.violations() == 0
    assert after["delivered"] > 0
