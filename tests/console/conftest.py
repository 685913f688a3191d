"""Fixtures for the console: a fake command registry, a live server, a live tree, a bot process."""

from __future__ import annotations

import argparse
import queue
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pexpect
import pytest

from console.commands import register_builtin_commands
from console.registry import CommandError, CommandRegistry
from console.server import ConsoleServer
from console.wire import Table
from protocol.secrets import Secret
from supervision import start_tree, stop_tree
from tests.console.tree_app import tree_spec

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
SECRET_VALUE = "Zq9-console-secret-value-7781"


@dataclass
class FakeCommands:
    registry: CommandRegistry
    calls: list[list[str]] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)  # `wait` blocks until it is set
    waiting: threading.Event = field(default_factory=threading.Event)  # set once `wait` is blocked


def make_fake_registry() -> FakeCommands:
    fake = FakeCommands(CommandRegistry())
    r = fake.registry

    def echo(args: argparse.Namespace) -> str:
        fake.calls.append(["echo", *args.words])
        return " ".join(args.words) * args.times

    p = argparse.ArgumentParser(description="Repeat the words.")
    p.add_argument("words", nargs="+")
    p.add_argument("--times", type=int, default=1)
    r.register_command("echo", p, echo)

    p = argparse.ArgumentParser(description="A small table.")
    r.register_command("table", p, lambda a: Table(columns=["NAME", "N"], rows=[["a", 1], ["bbb", 22], ["c", None]]))

    p = argparse.ArgumentParser(description="Data with a secret in it.")
    r.register_command("leak", p, lambda a: {"key": Secret(SECRET_VALUE), "text": f"url has {SECRET_VALUE}"})

    def boom(args: argparse.Namespace) -> None:
        raise RuntimeError("the handler broke")

    r.register_command("boom", argparse.ArgumentParser(description="Fail."), boom)

    def refuse(args: argparse.Namespace) -> None:
        raise CommandError("nothing to do here")

    r.register_command("refuse", argparse.ArgumentParser(description="Refuse cleanly."), refuse)
    def wait(args: argparse.Namespace) -> str:
        fake.waiting.set()
        return "gate opened" if fake.gate.wait(10) else "gate never opened"

    r.register_command("wait", argparse.ArgumentParser(description="Block until the test opens the gate."), wait)
    register_builtin_commands(r)
    return fake


@pytest.fixture
def fake() -> FakeCommands:
    return make_fake_registry()


@pytest.fixture
def server(tmp_path: Path, fake: FakeCommands) -> Iterator[ConsoleServer]:
    srv = ConsoleServer(tmp_path / "var", registry=fake.registry)
    srv.start()
    try:
        yield srv
    finally:
        fake.gate.set()
        srv.stop()


@dataclass
class LiveTree:
    registry: CommandRegistry
    starts: queue.Queue[int]
    release: threading.Event
    stalled: threading.Event
    data_dir: Path


@pytest.fixture
def live_tree(tmp_path: Path) -> Iterator[LiveTree]:
    live = LiveTree(CommandRegistry(), queue.Queue(), threading.Event(), threading.Event(), tmp_path / "var")
    start_tree(tree_spec(str(live.data_dir), registry=live.registry, starts=live.starts, release=live.release,
                         stalled=live.stalled))
    try:
        yield live
    finally:
        live.release.set()
        stop_tree(10.0)


@pytest.fixture
def bot_process(tmp_path: Path) -> Iterator[Path]:
    """The test tree and its console in a separate process; yields its data dir."""
    data_dir = tmp_path / "var"
    child = pexpect.spawn(PYTHON, ["-m", "tests.console.serve_tree", str(data_dir)], cwd=str(REPO),
                          encoding="utf-8", timeout=30)
    try:
        child.expect(r"READY \d+")
        yield data_dir
    finally:
        if child.isalive():
            child.sendeof()
            try:
                child.expect(["STOPPED", pexpect.EOF], timeout=15)
            except pexpect.TIMEOUT:
                pass
        child.close(force=True)
