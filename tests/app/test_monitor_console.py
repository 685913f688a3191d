"""The monitoring commands through the real console client (`python run.py console CMD`, one shot) against
the real bot on its devnet: `traces --slow N` and `traces --failed N` list what the bot traced, `trace ID`
shows one opportunity's timeline (its root and stages), `errors` and `errors FP` show the error book after
an emergency stop (logged at ERROR); each refuses one bad input with a clear error and a nonzero exit."""

from __future__ import annotations

import re
import subprocess

from bot.app import SHUTDOWN_BOUND_S
from tests.app.conftest import BotRun, wait_no_leftovers
from tests.waiting import wait_until

TRACE_ID = re.compile(r"\b[0-9a-f]{32}\b")
FINGERPRINT = re.compile(r"^([0-9a-f]{12})\s", re.MULTILINE)


def finished(listing: str) -> list[str]:
    """The trace ids of a `traces` table whose rows ended in a final stage."""
    return [line.split()[0] for line in listing.splitlines()
            if TRACE_ID.match(line) and line.split()[-1] in ("included", "failed", "skipped")]


def console(bot: BotRun, *command: str) -> subprocess.CompletedProcess[str]:
    return bot.run("console", "--data-dir", str(bot.data_dir), *command, timeout_s=60.0)


def ok(bot: BotRun, *command: str) -> str:
    done = console(bot, *command)
    assert done.returncode == 0, (command, done.stdout, done.stderr)
    return done.stdout


def refused(bot: BotRun, *command: str) -> str:
    done = console(bot, *command)
    assert done.returncode != 0, (command, done.stdout)
    return done.stdout + done.stderr


def test_traces_and_errors_on_the_running_bot(bot: BotRun) -> None:
    proc = bot.start()
    try:
        bot.wait_console(proc)
        # the simulator drifts prices apart: the bot traces every opportunity it hands to the executor
        listed = wait_until(lambda: ok(bot, "traces", "--slow", "5"), 120.0, "a finished trace",
                            until=lambda shown: bool(finished(shown)))
        assert "the 5 slowest traces" in listed and "ENDED IN" in listed
        trace_id = finished(listed)[0]
        timeline = wait_until(lambda: ok(bot, "trace", trace_id), 30.0, "the trace's root ended",
                              until=lambda shown: "opportunity" in shown)
        assert f"trace {trace_id}" in timeline
        stages = [line.split()[0] for line in timeline.splitlines()[2:] if line.strip() and line[0] != "("]
        assert stages[:2] == ["opportunity", "detected"], timeline  # the root, then the first stage
        assert set(stages) & {"included", "failed", "skipped"}, timeline
        assert "the 3 most recent failed traces" in ok(bot, "traces", "--failed", "3")

        unknown = "0" * 31 + "1"
        assert f"no trace '{unknown}'" in refused(bot, "trace", unknown)
        assert "'many' is not a whole number of traces" in refused(bot, "traces", "--slow", "many")
        assert "0 traces: expected 1 or more" in refused(bot, "traces", "--failed", "0")

        # an emergency stop is logged at ERROR: the error book has it by fingerprint. Its answer is not
        # asserted: under a loaded machine the book's 5 s ask can time out after the stop was applied
        console(bot, "estop", "console test")
        errors = wait_until(lambda: ok(bot, "errors"), 60.0, "the emergency stop counted",
                            until=lambda shown: "EMERGENCY STOP" in shown or "emergency stop" in shown)
        assert "distinct errors" in errors and "FINGERPRINT" in errors
        row = next(line for line in errors.splitlines() if "mergency" in line.lower() and FINGERPRINT.match(line))
        fp = row.split()[0]
        one = ok(bot, "errors", fp)
        assert f'"fingerprint": "{fp}"' in one and '"count": ' in one and "console test" in one
        assert "no error with fingerprint 'ffffffffffff'" in refused(bot, "errors", "ffffffffffff")
    finally:
        out = bot.interrupt(proc, SHUTDOWN_BOUND_S + 10)
    assert proc.returncode == 0, out
    assert wait_no_leftovers(bot.marker) == []
