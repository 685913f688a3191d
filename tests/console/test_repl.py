"""The console client driven for real: a bot process with its console, the REPL under pexpect."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from tests.console.conftest import PYTHON, REPO

PROMPT = "arbiter> "
TIMEOUT_S = 20


@pytest.fixture
def repl(bot_process: Path) -> Iterator[pexpect.spawn]:
    child = pexpect.spawn(PYTHON, ["-m", "console", "--data-dir", str(bot_process)], cwd=str(REPO),
                          encoding="utf-8", timeout=TIMEOUT_S, dimensions=(50, 200), env={"TERM": "dumb"})
    try:
        child.expect_exact(PROMPT)
        yield child
    finally:
        child.close(force=True)


def command(child: pexpect.spawn, line: str) -> str:
    child.sendline(line)
    child.expect_exact(PROMPT)
    return str(child.before)


def test_an_operator_session(repl: pexpect.spawn) -> None:
    listing = command(repl, "help")
    for name in ("tree", "inspect", "kill", "help", "quit"):
        assert f"\n{name} " in listing.replace("\r", "")
    table = command(repl, "tree")
    assert "PATH" in table and "BREAKER" in table and "/network/rpc:primary" in table and "HALF_OPEN" in table
    assert "usage: tree [-h] [--watch]" in command(repl, "tree --help")
    assert '"breaker": "HALF_OPEN"' in command(repl, "inspect /network/rpc:primary")
    assert "error: no actor at '/nope'" in command(repl, "inspect /nope")
    assert "error: unknown command 'frobnicate'" in command(repl, "frobnicate")
    assert "error: No closing quotation" in command(repl, "kill '/worker")
    assert "crash injected into /worker" in command(repl, "kill /worker from the repl")
    repl.sendline("quit")
    repl.expect(pexpect.EOF)
    repl.close()
    assert repl.exitstatus == 0


def test_tree_watch_redraws_until_q(repl: pexpect.spawn) -> None:
    repl.sendline("tree --watch")
    repl.expect_exact("q or Ctrl-C to stop")
    repl.expect_exact("/console")
    repl.expect_exact("q or Ctrl-C to stop")  # redrawn: a second frame
    repl.send("q")
    repl.expect_exact(PROMPT)
    assert "/worker" in command(repl, "tree")  # the REPL still works after the watch


def test_tree_watch_stops_on_ctrl_c(repl: pexpect.spawn) -> None:
    repl.sendline("tree -w")
    repl.expect_exact("q or Ctrl-C to stop")
    repl.sendintr()
    repl.expect_exact(PROMPT)
    repl.sendeof()  # Ctrl-D leaves too
    repl.expect(pexpect.EOF)


def test_the_console_itself_can_be_killed_and_the_client_reconnects(repl: pexpect.spawn) -> None:
    answer = command(repl, "kill /console")
    # The answer may be lost with the connection it was to travel on; the client says so and never resends.
    assert "crash injected into /console" in answer or "may or may not have run" in answer
    table = command(repl, "tree")  # reconnects to the restarted console (new port, new token)
    row = next(line for line in table.splitlines() if line.startswith("/console"))
    assert "ConsoleActor" in row and "1/1" in row and "InjectedCrash" in row


def test_one_shot_through_run_py(bot_process: Path) -> None:
    done = subprocess.run([PYTHON, "run.py", "console", "--data-dir", str(bot_process), "tree"], cwd=REPO,
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 0, done.stderr
    assert "/network/rpc:primary" in done.stdout and "ConsoleActor" in done.stdout
    failed = subprocess.run([PYTHON, "run.py", "console", "--data-dir", str(bot_process), "inspect", "/nope"],
                            cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT_S)
    assert failed.returncode == 1 and "no actor at '/nope'" in failed.stdout


def test_a_client_with_the_wrong_token_is_refused(bot_process: Path, tmp_path: Path) -> None:
    forged = tmp_path / "forged"
    forged.mkdir()
    shutil.copy(bot_process / "console.json", forged / "console.json")
    (forged / "console.token").write_text("guessed-token\n")
    done = subprocess.run([PYTHON, "-m", "console", "--data-dir", str(forged), "tree"], cwd=REPO,
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 1 and "unauthorized" in done.stdout and "/worker" not in done.stdout


def test_no_running_bot_is_explained(tmp_path: Path) -> None:
    done = subprocess.run([PYTHON, "-m", "console", "--data-dir", str(tmp_path), "tree"], cwd=REPO,
                          capture_output=True, text=True, timeout=TIMEOUT_S)
    assert done.returncode == 1 and "no console found" in done.stderr and "console.json" in done.stderr


@pytest.mark.parametrize("how", ["sigkill", "clean stop"])
def test_the_repl_notices_at_once_that_the_bot_is_gone(tmp_path: Path, how: str) -> None:
    """Item 5 of issue 19: with nothing typed, the prompt says the bot has stopped and the console exits
    (it used to take a command and a 10 s reconnect wait to find out)."""
    data_dir = tmp_path / "var"
    bot = pexpect.spawn(PYTHON, ["-m", "tests.console.serve_tree", str(data_dir)], cwd=str(REPO),
                        encoding="utf-8", timeout=30)
    try:
        bot.expect(r"READY \d+")
        child = pexpect.spawn(PYTHON, ["-m", "console", "--data-dir", str(data_dir)], cwd=str(REPO),
                              encoding="utf-8", timeout=TIMEOUT_S, env={"TERM": "dumb"})
        child.expect_exact(PROMPT)
        assert "/worker" in command(child, "tree")
        if how == "sigkill":
            bot.kill(9)
        else:
            bot.sendeof()
            bot.expect_exact("STOPPED")
        child.expect(r"the bot \(pid \d+\) has stopped; leaving the console")
        child.expect(pexpect.EOF)
        child.close()
        assert child.exitstatus == 1
    finally:
        bot.close(force=True)
