"""The actor's inbox and the reply futures that travel in it.

pykka's loop only reads `.message` and `.reply_to` of what it takes from the inbox and calls
`reply_to.set(value)` / `reply_to.set_exception(...)`. We put our own deliveries there, so that:
- a reply is a concurrent.futures.Future (callbacks, so `pipe` needs no waiting thread);
- a closed inbox refuses new messages at once (their asks fail naming the actor), which closes the
  window where pykka would let an ask enqueued after teardown wait forever.
"""

from __future__ import annotations

import concurrent.futures
import queue
import sys
import time
from collections.abc import Callable
from typing import Any

from protocol.envelope import Envelope


class Reply(concurrent.futures.Future[Any]):
    """A future pykka's loop can complete; completing twice (answer after timeout) is harmless."""

    def set(self, value: Any = None) -> None:
        try:
            self.set_result(value)
        except concurrent.futures.InvalidStateError:
            pass

    def set_exception(self, exception: BaseException | None = None, exc_info: Any = None) -> None:  # type: ignore[override]
        if exception is None:
            exception = (exc_info or sys.exc_info())[1] or RuntimeError("unknown failure")
        try:
            super().set_exception(exception)
        except concurrent.futures.InvalidStateError:
            pass


class Delivery:
    __slots__ = ("message", "reply_to")

    def __init__(self, message: Any, reply_to: Reply | None = None) -> None:
        self.message = message
        self.reply_to = reply_to


def post(ref: Any, delivery: Delivery) -> None:
    """Put a delivery in an actor's inbox (our Mailbox accepts Delivery where pykka types its own Envelope)."""
    ref.actor_inbox.put(delivery)


class Mailbox(queue.Queue[Any]):
    """An unbounded inbox that can be closed; a closed one hands every new delivery to `on_reject`."""

    def __init__(self) -> None:
        super().__init__()
        self.closed = False
        self.on_reject: Callable[[Any], None] = lambda item: None

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        with self.mutex:
            if not self.closed:
                self.queue.append(item)
                self.unfinished_tasks += 1
                self.not_empty.notify()
                return
        self.on_reject(item)

    def close(self) -> list[Any]:
        """Refuse further deliveries and return what was still queued."""
        with self.mutex:
            self.closed = True
            left = list(self.queue)
            self.queue.clear()
            return left

    def oldest_age_s(self, now: float | None = None) -> float | None:
        try:
            head = self.queue[0]
        except IndexError:
            return None
        msg = getattr(head, "message", None)
        if isinstance(msg, Envelope):
            return max(0.0, (now or time.time()) - msg.sent_at)
        return None
