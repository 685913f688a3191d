"""Starting and stopping a whole tree: the root supervisor and the process-wide exit signal."""

from __future__ import annotations

import threading
from typing import Any

import pykka

from protocol.supervision import ChildExited
from supervision import registry
from supervision.actor import ActorContext
from supervision.handle import Handle
from supervision.spec import ChildSpec

ROOT_PATH = "/"


class Tree:
    """A running tree. `exited` is set when the root stops, normally or because it escalated."""

    def __init__(self, spec: ChildSpec) -> None:
        self.spec = spec
        self.exited = threading.Event()
        self.exit: ChildExited | None = None
        self.ref: pykka.ActorRef[Any] | None = None

    def _on_root_exit(self, msg: ChildExited) -> None:
        self.exit = msg
        self.exited.set()

    @property
    def handle(self) -> Handle:
        return Handle(ROOT_PATH)

    def stop(self, timeout_s: float = 30.0) -> bool:
        """Stop every actor, children before parents in reverse start order. True if all stopped in time."""
        ref, self.ref = self.ref, None
        ok = True
        if ref is not None and ref.is_alive():
            try:
                ref.stop(block=True, timeout=timeout_s)
            except pykka.Timeout:
                ok = False
        registry.unbind(ROOT_PATH, ref)
        return ok


_current: Tree | None = None


def start_tree(root: ChildSpec) -> Tree:
    """Start `root` (normally a supervisor spec) at path "/" and wait until its subtree is up."""
    global _current
    tree = Tree(root)
    ctx = ActorContext(ROOT_PATH, root.id, 1, parent=None)
    ctx.on_exit = tree._on_root_exit
    ctx.on_spawned = lambda ref: registry.bind(ROOT_PATH, ref)  # as a supervisor binds its children
    ref = root.start.start(ctx, **root.kwargs)
    actor = ctx.actor
    if actor is None or not actor.ready.wait(root.start_timeout_s * 3) or actor.start_error:
        if actor is None:
            reason = "not a SupervisedActor"
        else:
            reason = actor.start_error or f"on_start took over {root.start_timeout_s * 3:g}s"
        registry.unbind(ROOT_PATH, ref, why="not started")
        if ref.is_alive():
            ref.stop(block=True, timeout=root.shutdown_s)
        raise RuntimeError(f"actor tree failed to start: {reason}")
    tree.ref = ref
    _current = tree
    return tree


def current_tree() -> Tree | None:
    return _current


def stop_tree(timeout_s: float = 30.0) -> bool:
    global _current
    tree, _current = _current, None
    return tree.stop(timeout_s) if tree is not None else True
