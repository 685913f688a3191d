"""Given real RPC URLs that do not answer, the bot says it is retrying and when, instead of idling."""

from __future__ import annotations

import re
import socket

from bot.app import SHUTDOWN_BOUND_S
from tests.app.conftest import BotRun, wait_no_leftovers
from tests.waiting import wait_until

ADDRESS = "0x" + "42" * 20


def _closed_port() -> int:
    with socket.socket() as s:  # bound then closed: nothing listens there
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_unreachable_endpoints_are_retried_with_a_visible_backoff(bot: BotRun) -> None:
    bot.env.update({"RPC_URL_PRIMARY": f"http://127.0.0.1:{_closed_port()}", "WETH_ADDRESS": ADDRESS,
                    "FACTORIES": f"uniswap={ADDRESS}", "EXECUTOR_ADDRESS": ADDRESS, "NUMERAIRE_TOKEN": ADDRESS})
    proc = bot.start()
    pattern = re.compile(r"chain read failed \((\d+) in a row\): .*; next attempt in ([\d.]+)s")
    try:
        retries = wait_until(lambda: [m for line in bot.output(proc).splitlines() if (m := pattern.search(line))],
                             60, "three retry lines with their delays", until=lambda found: len(found) >= 3)
    finally:
        bot.interrupt(proc, SHUTDOWN_BOUND_S + 10)  # Ctrl-C
    assert proc.returncode == 0, bot.output(proc)
    counts = [int(m.group(1)) for m in retries[:3]]
    delays = [float(m.group(2)) for m in retries[:3]]
    assert counts == [1, 2, 3] and delays[0] < delays[1] < delays[2], retries
    assert wait_no_leftovers(bot.marker) == []
