"""A small supervised tree for the console tests: a worker, an endpoint with a breaker, a staller.

Used in-process by the tests and as a process by serve_tree.py (for the REPL driven by pexpect).
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import msgspec

from console.actor import ConsoleActor
from console.registry import CommandRegistry
from supervision import ChildSpec, SupervisedActor, supervisor_spec
from supervision.actor import ActorContext
from supervision.spec import Backoff


class Stall(msgspec.Struct, frozen=True):
    """Block the handler until the release event is set (a stuck actor for the console to show)."""


class Ping(msgspec.Struct, frozen=True):
    pass


class Worker(SupervisedActor):
    def __init__(self, ctx: ActorContext, *, starts: queue.Queue[int] | None = None,
                 release: threading.Event | None = None, stalled: threading.Event | None = None,
                 breaker: str | None = None) -> None:
        super().__init__(ctx)
        self.starts, self.release, self.stalled, self.breaker = starts, release, stalled, breaker

    def on_start(self) -> None:
        if self.starts is not None:
            self.starts.put(self.ctx.incarnation)
        self.publish({"incarnation": self.ctx.incarnation, "note": "published snapshot"})

    def receive(self, msg: object) -> object:
        match msg:
            case Ping():
                return "pong"
            case Stall() if self.release is not None:
                if self.stalled is not None:
                    self.stalled.set()
                self.release.wait(30)
        return None

    def status(self) -> dict[str, Any]:
        return {"breaker": self.breaker} if self.breaker else {}


def tree_spec(data_dir: str, *, registry: CommandRegistry | None = None, starts: queue.Queue[int] | None = None,
              release: threading.Event | None = None, stalled: threading.Event | None = None) -> ChildSpec:
    quick = Backoff(min_s=0.01, max_s=0.05)
    return supervisor_spec("root", [
        ChildSpec(id="worker", start=Worker, kwargs={"starts": starts}),
        supervisor_spec("network", [
            ChildSpec(id="rpc:primary", start=Worker, kwargs={"breaker": "HALF_OPEN"}),
        ], backoff=quick),
        ChildSpec(id="staller", start=Worker, kwargs={"release": release, "stalled": stalled}),
        ChildSpec(id="console", start=ConsoleActor, kwargs={"data_dir": data_dir, "registry": registry}),
    ], backoff=quick)
