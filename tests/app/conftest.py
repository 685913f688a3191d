"""Run the real bot (`python run.py`) as a subprocess and find everything it started.

Each run carries a unique marker in its environment; anvil and any other child inherit it, so
`leftovers(marker)` finds whatever is still alive after the bot is gone, wherever it was re-parented.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from tests.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
MARKER_VAR = "ARBITER_TEST_RUN"


def leftovers(marker: str) -> list[psutil.Process]:
    alive = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get(MARKER_VAR) == marker:
                alive.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return alive


def wait_no_leftovers(marker: str, timeout_s: float = 15.0) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout_s
    while True:
        alive = leftovers(marker)
        if not alive or time.monotonic() > deadline:
            return alive
        psutil.wait_procs(alive, timeout=0.2)


@dataclass
class BotRun:
    """The bot's command line and environment for one test. A started bot's output (stdout and stderr)
    goes to a file beside its data dir, never to a pipe: a pipe nobody drains fills up within a minute of
    trading, and then every thread that logs blocks on it and the whole bot stalls."""

    marker: str
    data_dir: Path
    env: dict[str, str]
    #: pid -> the file a bot started by `start` writes its output to.
    outputs: dict[int, Path] = field(default_factory=dict)

    def command(self, *args: str) -> list[str]:
        return [sys.executable, str(REPO / "run.py"), *args]

    def run(
        self, *args: str, timeout_s: float = 60.0, extra_env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*args), cwd=REPO, env={**self.env, **(extra_env or {})},
            capture_output=True, text=True, timeout=timeout_s,
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        """Start `run.py args` in its own session; read what it printed so far with `output(proc)`."""
        path = self.data_dir.parent / f"bot-output-{len(self.outputs) + 1}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w") as out:  # the child holds its own descriptor; ours is closed at once
            proc = subprocess.Popen(self.command(*args), cwd=REPO, env=self.env, stdout=out,
                                    stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.outputs[proc.pid] = path
        return proc

    def output(self, proc: subprocess.Popen[str]) -> str:
        """Everything `proc` (started by `start`) has printed so far."""
        return self.outputs[proc.pid].read_text(errors="replace")

    def interrupt(self, proc: subprocess.Popen[str], bound_s: float) -> str:
        """Ctrl-C the bot and wait for it to stop within `bound_s`; its output."""
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=bound_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
        return self.output(proc)

    def wait_console(self, proc: subprocess.Popen[str], timeout_s: float = 90.0) -> None:
        wait_until(lambda: (self.data_dir / "console.json").exists() or proc.poll() is not None, timeout_s,
                   "the bot's console to come up")
        if proc.poll() is not None and not (self.data_dir / "console.json").exists():
            output = self.output(proc) if proc.pid in self.outputs else ""
            raise AssertionError(f"the bot exited with {proc.returncode}:\n{output}")


@pytest.fixture
def bot(tmp_path: Path) -> Iterator[BotRun]:
    marker = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RPC_URL", "WS_URL", "ARBITER_"))}
    env.update({MARKER_VAR: marker, "DATA_DIR": str(tmp_path / "var"), "PYTHONUNBUFFERED": "1"})
    run = BotRun(marker=marker, data_dir=tmp_path / "var", env=env)
    yield run
    for proc in leftovers(marker):  # never leave anything behind, even when the test failed
        try:
            proc.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
