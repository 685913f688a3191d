"""The real bot on its devnet: an operator attaches the console, kills an actor, watches it come
back; Ctrl-C stops everything within the bound; a SIGKILLed bot takes anvil down with it."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pexpect

from bot.app import SHUTDOWN_BOUND_S
from tests.app.conftest import REPO, BotRun, wait_no_leftovers

PROMPT = "arbiter> "


def _console(bot: BotRun) -> pexpect.spawn:
    child = pexpect.spawn(
        sys.executable, [str(REPO / "run.py"), "console", "--data-dir", str(bot.data_dir)],
        cwd=str(REPO), env=bot.env, encoding="utf-8", timeout=30,
    )
    child.expect_exact(PROMPT)
    return child


def test_operator_kills_an_actor_from_the_console_and_it_restarts(bot: BotRun) -> None:
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
        deadline = time.monotonic() + 20
        while True:
            console.sendline("inspect /devnet/market-simulator")
            console.expect_exact(PROMPT)
            shown = console.before or ""
            if '"state": "running"' in shown and '"restarts_total": 1' in shown and "InjectedCrash" in shown:
                break
            assert time.monotonic() < deadline, f"no restart seen:\n{shown}"
        console.sendline("quit")
        console.expect(pexpect.EOF)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            out, _ = proc.communicate(timeout=SHUTDOWN_BOUND_S + 10)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert proc.returncode == 0, out
    assert "stopped" in out
    assert wait_no_leftovers(bot.marker) == []


def test_sigkilled_bot_leaves_nothing_running(bot: BotRun) -> None:
    proc = bot.start()
    bot.wait_console(proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    assert wait_no_leftovers(bot.marker) == [], "anvil or a proxy outlived a SIGKILLed bot"
