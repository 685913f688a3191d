"""examples/manager_example.py, the operator API's documented walk-through, runs on the devnet and every
step does what it says; with the risk book disabled, the steps that need it name the flag instead."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.app.conftest import REPO, BotRun, wait_no_leftovers

EXAMPLE = REPO / "examples" / "manager_example.py"


def _run(bot: BotRun, tmp_path: Path, *args: str) -> str:
    done = subprocess.run([sys.executable, str(EXAMPLE), "--data-dir", str(tmp_path / "var"), *args], cwd=REPO,
                          env=bot.env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_the_example_drives_every_operator_call(bot: BotRun, tmp_path: Path) -> None:
    out = _run(bot, tmp_path)
    lines = {line.split(":", 1)[0]: line for line in out.splitlines() if line.startswith("step ")}
    assert sorted(lines) == [f"step {n}" for n in range(1, 8)], out
    assert "routable endpoints: primary" in lines["step 1"] or "routable endpoints: " in lines["step 1"]
    assert "mode devnet" in lines["step 2"] and "disabled: none" in lines["step 2"]
    assert "risk book on 0.1 WETH round trip" in lines["step 3"]
    assert "alert sent" in lines["step 4"]
    assert "emergency stop active=True; the trade is then refused; after reset active=False" in lines["step 5"]
    assert "performance grade" in lines["step 6"] and "backtest (SYNTHETIC, 1 day)" in lines["step 7"]
    assert out.rstrip().endswith("stopped")
    assert wait_no_leftovers(bot.marker) == []


def test_without_the_risk_book_the_risk_steps_name_the_flag(bot: BotRun, tmp_path: Path) -> None:
    out = _run(bot, tmp_path, "--without", "risk_manager")
    assert "disabled: risk_manager" in out
    assert "step 3: assess_trade_risk: risk_manager is disabled (enable_risk_management=False" in out
    assert "step 5: emergency stop: risk_manager is disabled" in out
    assert "step 7: backtest" in out  # the replay carries its own risk rules
