"""The real bot on its devnet: an operator attaches the console, kills an actor, watches it come
back; Ctrl-C stops everything within the bound; a SIGKILLed bot takes anvil down with it."""

from __future__ import annotations

import re
import signal
import socket
import sys
import urllib.request
from functools import partial

import pexpect

from bot.app import SHUTDOWN_BOUND_S
from tests.app.conftest import REPO, BotRun, wait_no_leftovers
from tests.waiting import wait_until

PROMPT = "arbiter> "


def _console(bot: BotRun) -> pexpect.spawn:
    child = pexpect.spawn(
        sys.executable, [str(REPO / "run.py"), "console", "--data-dir", str(bot.data_dir)],
        cwd=str(REPO), env=bot.env, encoding="utf-8", timeout=30,
    )
    child.expect_exact(PROMPT)
    return child


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _answer(console: pexpect.spawn, command: str) -> str:
    console.sendline(command)
    console.expect_exact(PROMPT)
    return console.before or ""


def _until(console: pexpect.spawn, command: str, wanted: list[str], what: str, timeout_s: float = 20.0) -> str:
    """Repeat `command` until its answer contains every string in `wanted`."""
    return wait_until(partial(_answer, console, command), timeout_s, what,
                      until=lambda shown: all(w in shown for w in wanted))


def _mined(shown: str) -> int:
    found = re.search(r'"mined": (\d+)', shown)
    return int(found.group(1)) if found else 0


def test_operator_session_on_the_running_bot(bot: BotRun) -> None:
    """kill an actor and watch it restart; inject a wrong chain id at an endpoint and watch it quarantined,
    clear it; the metrics endpoint serves the network's figures."""
    metrics_port = _free_port()
    bot.env.update({"ENABLE_PROMETHEUS": "true", "PROMETHEUS_PORT": str(metrics_port)})
    proc = bot.start()
    try:
        bot.wait_console(proc)
        console = _console(bot)
        console.sendline("tree")
        console.expect_exact("/network/rpc:primary")
        console.expect_exact("/risk-book")
        console.expect_exact(PROMPT)

        console.sendline("kill /devnet/market-simulator")
        console.expect_exact(PROMPT)
        # The supervisor restarts it after its backoff; inspect shows the restart and the error it died of.
        _until(console, "inspect /devnet/market-simulator",
               ['"state": "running"', '"restarts_total": 1', "InjectedCrash"], "the restart")

        # The market simulator opens gaps; the bot captures them through the router and the executor contract.
        _until(console, "inspect /market/executor", ['"mode": "public"', '"mined": '], "the executor")
        shown = wait_until(partial(_answer, console, "inspect /market/executor"), 30, "a capture mined",
                           until=_mined)
        assert _mined(shown) >= 1

        # A lying endpoint: the next health check quarantines it and routing leaves it out.
        console.sendline("fault rpc:secondary chainid=5")
        console.expect_exact(PROMPT)
        _until(console, "inspect /network/rpc:secondary", ['"breaker": "QUARANTINED"'], "the quarantine")
        routes = _until(console, "routes", ['"excluded"', "secondary"], "secondary excluded")
        assert "QUARANTINED" in routes
        # Only an operator clears it, once the endpoint tells the truth again.
        console.sendline("fault rpc:secondary clear")
        console.expect_exact(PROMPT)
        console.sendline("clear rpc:secondary")
        console.expect_exact(PROMPT)
        _until(console, "inspect /network/rpc:secondary", ['"breaker": "CLOSED"'], "the endpoint back in service")

        with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10) as answer:
            metrics = answer.read().decode()
        assert 'endpoint="primary"' in metrics and "arbiter_" in metrics
        console.sendline("quit")
        console.expect(pexpect.EOF)
    finally:
        out = bot.interrupt(proc, SHUTDOWN_BOUND_S + 10)
    assert proc.returncode == 0, out
    assert "stopped" in out
    assert wait_no_leftovers(bot.marker) == []


def test_sigkilled_bot_leaves_nothing_running(bot: BotRun) -> None:
    proc = bot.start()
    bot.wait_console(proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert wait_no_leftovers(bot.marker) == [], "anvil or a proxy outlived a SIGKILLed bot"
