"""Alerting benchmark: a burst of 1,000 alerts over every channel against the local fake services.

Three runs, each against fresh local servers (aiohttp fakes of Discord, Telegram, Slack, Twilio, and
aiosmtpd with STARTTLS and AUTH):

1. latency: no rate limit anywhere (our buckets off, the servers unlimited), group waits 0.
   delivery_*_ms is, per (alert, channel), from the tell to the moment the service accepted the
   message that carried it (directly, or summarised behind a rate-limited lead). router_throughput_per_s
   is alerts told / time until the outbox holds all of them (committed).
2. limits: our default token buckets, servers enforcing their own rates and answering 429 bursts
   with retry_after; `rate_limit_violations` counts requests a server saw before a retry_after it gave
   had ended.
3. sigkill: the burst in a child process, SIGKILLed once the services have accepted a few messages,
   then restarted on the same outbox to drain. lost / duplicated are audited against the servers.

Prints one JSON object. Run: .venv/bin/python benchmarks/bench_alerts.py
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from typing import Any

import numpy as np

from alerting.grouping import GroupTimers
from bot.alerts import alerts_spec
from devnet.alerts_burst import SERVICE_OF_CHANNEL, accepted, audit, channel_env, unsettled
from devnet.fake_services import FakeServices, FakeSmtp, Fault
from protocol.alerts import AlertType, Priority, SendAlert
from protocol.config import load_config
from supervision import Handle, start_tree, stop_tree, supervisor_spec

ROOT = Path(__file__).resolve().parents[1]
BURST = 1_000
P99_TARGET_MS = 1_000.0
TIMERS = GroupTimers(group_wait_s=0.0, group_interval_s=0.0, repeat_interval_s=3600)
PRIORITIES = (Priority.CRITICAL, Priority.HIGH, Priority.MEDIUM, Priority.LOW)


def _wait(predicate, timeout: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _burst(env: dict[str, str], **overrides: Any) -> tuple[list[float], float, str]:
    """Tell BURST alerts; (send times by alert id - 1, seconds until all were committed, outbox path)."""
    config = load_config(env)
    start_tree(supervisor_spec("root", [alerts_spec(config, timers=TIMERS, **overrides)]))
    outbox = str(Path(env["DATA_DIR"]) / "alerts-outbox.sqlite3")
    router = Handle("/alerts/router")
    sent: list[float] = []
    t0 = time.monotonic()
    for i in range(BURST):
        sent.append(time.monotonic())
        router.tell(SendAlert(type=AlertType.TRADE, title=f"burst alert {i}", key=f"burst-{i}",
                              priority=PRIORITIES[i % 4], data={"i": i}))
    _wait(lambda: accepted(outbox) >= BURST, 60)
    committed_s = time.monotonic() - t0
    _wait(lambda: unsettled(outbox) == 0, 300)
    return sent, committed_s, outbox


def _count(outbox: str) -> int:
    db = sqlite3.connect(outbox)
    try:
        return int(db.execute("SELECT COUNT(*) FROM alerts WHERE title LIKE 'wave %' OR title LIKE 'burst alert %'")
                   .fetchone()[0])
    finally:
        db.close()


def _latencies(outbox: str, sent: list[float], services: FakeServices, smtp: FakeSmtp) -> list[float]:
    seen: dict[tuple[str, str], float] = {}
    for channel, service in SERVICE_OF_CHANNEL.items():
        for a in services.accepted(service):
            for ref in a.refs:
                seen.setdefault((channel, ref), a.at)
    for at, text in smtp.messages:
        for line in text.splitlines():
            if line.startswith("X-Arbiter-Ref:"):
                seen.setdefault(("email", line.split()[-1]), at)
    db = sqlite3.connect(outbox)
    rows = db.execute("SELECT channel, alert_ids, lead FROM deliveries WHERE status = 'delivered'").fetchall()
    db.close()
    out = []
    for channel, ids, lead in rows:
        accepted_at = seen.get((channel, str(lead)))
        if accepted_at is None:
            continue
        for alert_id in json.loads(ids):
            if 1 <= alert_id <= len(sent):
                out.append((accepted_at - sent[alert_id - 1]) * 1000)
    return out


def run_latency(tmp: Path) -> dict[str, float]:
    with FakeServices() as services, FakeSmtp() as smtp:
        env = channel_env(services, smtp, tmp / "latency")
        try:
            sent, committed_s, outbox = _burst(env, buckets={}, global_bucket=None)
        finally:
            stop_tree(10)
        lat = _latencies(outbox, sent, services, smtp)
        result = audit(outbox, services, smtp)
    return {"delivery_p50_ms": round(float(np.percentile(lat, 50)), 1),
            "delivery_p99_ms": round(float(np.percentile(lat, 99)), 1),
            "delivery_samples": len(lat), "router_throughput_per_s": round(BURST / committed_s),
            "latency_run_lost": result["lost"], "latency_run_duplicated": result["duplicated"],
            "latency_run_violations": services.violations()}


def run_limits(tmp: Path) -> dict[str, float]:
    with FakeServices() as services, FakeSmtp() as smtp:
        for service, rate in (("discord", 2), ("telegram", 1), ("slack", 1), ("twilio", 1)):
            services.limit(service, rate)
            services.script(service, Fault("429", retry_after=0.8), Fault("429", retry_after=0.4))
        env = channel_env(services, smtp, tmp / "limits")
        try:
            _burst(env)
            for i in range(20):  # a second wave while the channels are parked and throttled
                Handle("/alerts/router").tell(SendAlert(type=AlertType.RISK, title=f"wave {i}", key=f"wave-{i}",
                                                        priority=Priority.HIGH))
            outbox = str(Path(env["DATA_DIR"]) / "alerts-outbox.sqlite3")
            _wait(lambda: _count(outbox) >= BURST + 20 and unsettled(outbox) == 0, 300)
        finally:
            stop_tree(10)
        result = audit(outbox, services, smtp)
        requests = sum(s.requests for s in services.state.values())
    return {"rate_limit_violations": services.violations(), "limits_run_requests": requests,
            "limits_run_lost": result["lost"], "limits_run_duplicated": result["duplicated"]}


def run_sigkill(tmp: Path) -> dict[str, float]:
    with FakeServices() as services, FakeSmtp() as smtp:
        env = channel_env(services, smtp, tmp / "sigkill")
        env["BURST_UNLIMITED"] = "1"
        cmd = [sys.executable, "-m", "devnet.alerts_burst", json.dumps(env)]
        penv = {**os.environ, "PYTHONPATH": str(ROOT)}
        first = subprocess.Popen([*cmd, str(BURST)], cwd=ROOT, env=penv, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        _wait(lambda: sum(len(services.accepted(s)) for s in SERVICE_OF_CHANNEL.values()) >= 6, 60)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        outbox = str(tmp / "sigkill" / "alerts-outbox.sqlite3")
        at_kill = unsettled(outbox)
        second = subprocess.run([*cmd, "0"], cwd=ROOT, env=penv, capture_output=True, text=True, timeout=300)
        result = audit(outbox, services, smtp)
    return {"sigkill_accepted": result["accepted"], "sigkill_unsettled_at_kill": at_kill,
            "sigkill_restart_ok": second.returncode == 0, "sigkill_lost": result["lost"],
            "sigkill_duplicated": result["duplicated"], "sigkill_unconfirmed": result["unconfirmed"],
            "sigkill_violations": services.violations()}


def main() -> None:
    from bot.logging import setup_logging

    setup_logging("ERROR")
    with tempfile.TemporaryDirectory() as tmp:
        latency = run_latency(Path(tmp))
        limits = run_limits(Path(tmp))
        sigkill = run_sigkill(Path(tmp))
    out = {
        "burst": BURST,
        **latency,
        "delivery_p99_target_ms": P99_TARGET_MS,
        **limits,
        "lost": latency["latency_run_lost"] + limits["limits_run_lost"] + sigkill["sigkill_lost"],
        "duplicated": latency["latency_run_duplicated"] + limits["limits_run_duplicated"]
        + sigkill["sigkill_duplicated"],
        **sigkill,
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
