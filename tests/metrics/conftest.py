"""One real bot (`python run.py` on its devnet, metrics on) for these tests, and its /metrics.

Started the way tests/app starts it: a subprocess with a marker in its environment, so whatever it
started (anvil, proxies) is found and stopped when the last of them ends, however it ends.
"""

from __future__ import annotations

import os
import signal
import socket
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psutil
import pytest

from bot.app import SHUTDOWN_BOUND_S
from tests.app.conftest import MARKER_VAR, BotRun, leftovers, wait_no_leftovers
from tests.waiting import wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(url: str, timeout_s: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout_s) as answer:
        return str(answer.read().decode())


@dataclass
class RunningBot:
    metrics_port: int

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def scrape(self) -> str:
        return get(self.metrics_url)


def _scrape_or_none(bot: RunningBot) -> str | None:
    try:
        return bot.scrape()
    except OSError:
        return None


@pytest.fixture(scope="package")
def running_bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBot]:
    data_dir = tmp_path_factory.mktemp("metrics-bot") / "var"
    marker = uuid.uuid4().hex
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RPC_URL", "WS_URL", "ARBITER_"))}
    env.update({MARKER_VAR: marker, "DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1",
                "ENABLE_PROMETHEUS": "true", "PROMETHEUS_PORT": str(port)})
    run = BotRun(marker=marker, data_dir=data_dir, env=env)
    proc = run.start()
    bot = RunningBot(port)
    try:
        # the endpoint is served once the whole tree is up
        wait_until(lambda: proc.poll() is not None or (_scrape_or_none(bot) or "").count("arbiter_") > 0,
                   timeout=90, what="the bot's /metrics")
        if proc.poll() is not None:
            raise AssertionError(f"the bot exited with {proc.returncode}:\n{proc.stdout.read() if proc.stdout else ''}")
        yield bot
    finally:
        if proc.poll() is None:
            run.interrupt(proc, SHUTDOWN_BOUND_S + 10)
        for leftover in wait_no_leftovers(marker, timeout_s=5.0) or leftovers(marker):
            try:
                leftover.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass
