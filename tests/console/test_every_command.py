"""Every console command of the real bot (`run.py` on its devnet), through the real console client: its
`--help`, one run that works and one with bad input that is refused with a message saying what was wrong.

One bot serves the whole module (starting one costs anvil, the DEXes and the tree); the cases run in an
order that leaves it trading at the end (the stop is reset, faults are cleared)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from console.client import ConsoleClient
from console.render import render
from console.wire import Response
from tests.app.conftest import MARKER_VAR, REPO, leftovers, wait_no_leftovers
from tests.waiting import wait_until

START_S = 120.0
#: Every command the devnet bot registers; a new command must be added to the cases below.
COMMANDS = {
    "alerts", "audit", "cancel-inflight", "clear", "config", "errors", "estop", "fault", "faults", "health", "help",
    "inspect", "kill", "perf", "quit", "reset", "risk", "routes", "silence", "silences", "test-alert", "trace",
    "traces", "tree", "unsilence",
}


class Bot:
    def __init__(self, data_dir: Path, proc: subprocess.Popen[str], marker: str) -> None:
        self.data_dir, self.proc, self.marker = data_dir, proc, marker
        self.client = ConsoleClient(data_dir)

    def run(self, *argv: str) -> Response:
        return self.client.call(list(argv))

    def ok(self, *argv: str) -> Any:
        answer = self.run(*argv)
        assert answer.ok, f"{' '.join(argv)}: {answer.error}"
        render(answer)  # what the operator sees renders without error
        return answer.body

    def refused(self, *argv: str) -> str:
        answer = self.run(*argv)
        assert not answer.ok, f"{' '.join(argv)} was accepted: {answer.body}"
        assert answer.error, argv
        return answer.error

    def until(self, argv: tuple[str, ...], done: Any, what: str, timeout_s: float = 60.0) -> Any:
        return wait_until(lambda: self.ok(*argv), timeout_s, what, until=done)


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bot]:
    data_dir = tmp_path_factory.mktemp("every-command") / "var"
    marker = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RPC_URL", "WS_URL", "ARBITER_"))}
    env.update({MARKER_VAR: marker, "DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1"})
    proc = subprocess.Popen([sys.executable, str(REPO / "run.py")], cwd=REPO, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    live = Bot(data_dir, proc, marker)
    try:
        wait_until(lambda: (data_dir / "console.json").exists() or proc.poll() is not None, START_S,
                   "the bot's console")
        assert proc.poll() is None, f"the bot exited with {proc.returncode}"
        live.client.connect()
        live.until(("routes",), lambda r: len(r["routes"]) == 3, "all three endpoints routable", START_S)
        yield live
    finally:
        live.client.close()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
        for left in leftovers(marker):
            left.kill()
        assert wait_no_leftovers(marker) == []


def test_every_registered_command_is_covered_here(bot: Bot) -> None:
    rows = bot.ok("help")["rows"]
    assert {row[0] for row in rows} == COMMANDS


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_of_each_command(bot: Bot, name: str) -> None:
    text = bot.ok(name, "--help")
    assert text.startswith(f"usage: {name}") and "-h, --help" in text
    assert bot.ok("help", name) == text


def test_tree(bot: Bot) -> None:
    body = bot.ok("tree")
    assert {"/network/rpc:primary", "/risk-book", "/market/executor", "/sampler", "/alerts/router"} <= {
        r[0] for r in body["rows"]}
    assert "unrecognized arguments: --depth" in bot.refused("tree", "--depth", "2")


def test_inspect(bot: Bot) -> None:
    assert bot.ok("inspect", "/risk-book")["path"] == "/risk-book"
    assert "no actor at '/nope'" in bot.refused("inspect", "/nope")
    assert "the following arguments are required: path" in bot.refused("inspect")


def test_kill(bot: Bot) -> None:
    assert "crash injected into /devnet/market-simulator" in bot.ok("kill", "/devnet/market-simulator", "test")
    bot.until(("inspect", "/devnet/market-simulator"), lambda b: b["state"] == "running" and b["restarts_total"] >= 1,
              "the simulator restarted")
    assert "no actor at '/nope'" in bot.refused("kill", "/nope")


def test_config_tells_the_truth_on_the_devnet(bot: Bot) -> None:
    """Issue 19 item 5: it said devnet false (the proxies are endpoints) and showed an empty market."""
    body = bot.ok("config")
    assert body["devnet"] is True
    market = body["market"]
    assert market["weth"].startswith("0x") and market["executor_address"].startswith("0x")
    assert {f[0] for f in market["factories"]} == {"uniswap", "sushiswap"} and market["pools"] > 0
    assert body["risk"]["max_drawdown"] > 0  # snake_case, as the TOML keys are
    assert bot.ok("config", "manager")["enable_risk_management"] is True
    assert "invalid choice: 'nope'" in bot.refused("config", "nope")


def test_risk_estop_reset(bot: Bot) -> None:
    report = bot.ok("risk")
    assert "overall_risk_score" in report and report["emergency_stop"]["active"] is False
    assert "the following arguments are required: reason" in bot.refused("estop")
    assert bot.ok("estop", "console", "drill", "--by", "pytest")["emergency_stop"]["active"] is True
    assert bot.ok("risk")["emergency_stop"]["reason"] == "console drill"
    assert "the following arguments are required: reason" in bot.refused("reset")
    cleared = bot.ok("reset", "drill", "over", "--by", "pytest")
    assert cleared["emergency_stop"]["active"] is False and cleared["reset_reason"] == "drill over"
    assert "unrecognized arguments" in bot.refused("risk", "extra")


def test_cancel_inflight(bot: Bot) -> None:
    body = bot.ok("cancel-inflight", "--by", "pytest")
    assert "cancellations sent" in body["cancel_in_flight"] and isinstance(body["in_flight"], int)
    assert "expected one argument" in bot.refused("cancel-inflight", "--by")


def test_perf_and_health(bot: Bot) -> None:
    table = bot.until(("perf",), lambda t: t["rows"], "an SLO table")
    assert any("rpcLatency" in str(row[0]) or "rpc" in str(row[0]).lower() for row in table["rows"])
    assert "invalid choice: 'flame'" in bot.refused("perf", "flame")
    assert "perf profile needs a duration" in bot.refused("perf", "profile")
    health = bot.ok("health")
    assert health["overall"] in ("healthy", "degraded") and health["routable_endpoints"]
    assert "unrecognized arguments: now" in bot.refused("health", "now")


def test_routes_fault_faults_and_clear(bot: Bot) -> None:
    assert set(bot.ok("routes")["routes"]) == {"primary", "secondary", "tertiary"}
    assert "unrecognized arguments" in bot.refused("routes", "all")
    assert "secondary: chainid=5" in bot.ok("fault", "rpc:secondary", "chainid=5")
    assert "chainid" in bot.ok("faults")
    assert "no fault proxy in front of 'rpc:nope'" in bot.refused("fault", "rpc:nope", "drop@20%")
    assert bot.refused("fault", "rpc:secondary", "frobnicate=3")
    assert "unrecognized arguments" in bot.refused("faults", "x")
    bot.until(("inspect", "/network/rpc:secondary"), lambda b: b["breaker"] == "QUARANTINED", "the quarantine")
    # item 5: clearing an endpoint that still lies says so, instead of "sent" and a silent re-quarantine
    still = bot.refused("clear", "rpc:secondary")
    assert "health check failed: QUARANTINED again" in still, still
    assert "secondary: clear" in bot.ok("fault", "rpc:secondary", "clear")
    cleared = bot.ok("clear", "rpc:secondary")
    assert cleared["was"] == "QUARANTINED" and cleared["now"] == "CLOSED" and "back in service" in cleared["outcome"]
    assert "no RPC endpoint rpc:nope" in bot.refused("clear", "rpc:nope")


def test_alerts_silence_silences_unsilence_test_alert(bot: Bot) -> None:
    body = bot.ok("alerts")
    assert {"alerts", "channels"} <= set(body)
    assert "invalid int value" in bot.refused("alerts", "--limit", "many")
    made = bot.ok("silence", "type=network", "30m", "maintenance", "window")
    assert made["matcher"] == "type=network"
    assert [made["id"]] == [row[0] for row in bot.ok("silences")["rows"] if row[0] == made["id"]]
    assert bot.refused("silence", "type=network", "soon", "why")
    assert "unrecognized arguments" in bot.refused("silences", "all")
    assert bot.ok("unsilence", str(made["id"]))
    assert "invalid int value" in bot.refused("unsilence", "first")
    assert bot.ok("test-alert", "log")
    assert "invalid choice: 'pigeon'" in bot.refused("test-alert", "pigeon")


def test_trace_traces_errors(bot: Bot) -> None:
    listing = bot.until(("traces", "--slow", "5"), lambda t: t["rows"], "a trace in the store")
    trace_id = listing["rows"][0][0]
    assert bot.ok("trace", trace_id)["rows"]
    assert "no trace 'ffff'" in bot.refused("trace", "ffff")
    assert "not allowed with argument" in bot.refused("traces", "--slow", "1", "--failed", "1")
    assert "distinct errors" in bot.ok("errors")["title"]
    assert "no error with fingerprint 'zzzz'" in bot.refused("errors", "zzzz")


def test_audit(bot: Bot) -> None:
    table = bot.until(("audit", "--kind", "console_command"), lambda t: t["rows"], "a console command audited")
    assert all(row[2] == "console_command" for row in table["rows"])
    assert bot.ok("audit", "verify")["ok"] is True
    assert "expected at least 1 record" in bot.refused("audit", "--last", "0")
    assert "expected a duration ago" in bot.refused("audit", "--since", "yesterday-ish")


def test_help_and_quit(bot: Bot) -> None:
    assert "unknown command 'nope'" in bot.refused("help", "nope")
    assert bot.ok("quit") == "bye"
    assert "unrecognized arguments" in bot.refused("quit", "now")  # the client reconnects for the next call


def test_the_readme_lists_every_command() -> None:
    """Issue 19 item 5: the README's list omitted routes, risk, fault, estop and reset."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    table = text[text.index("## The console"):text.index("## Deployment checklist")]
    missing = [name for name in sorted(COMMANDS) if f"`{name}" not in table]
    assert missing == []
