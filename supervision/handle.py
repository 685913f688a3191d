"""Stable handles: callers address an actor by path and reach whichever incarnation is live.

Every ask has a timeout; an ask to a dead or restarting actor fails fast with ActorUnavailable
(or waits up to `wait_s` for the next incarnation); an ask pending when the actor dies fails with
ActorCrashed. No future is ever left pending.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

import pykka

from protocol.envelope import Envelope
from supervision import registry
from supervision.errors import ActorUnavailable, AskTimeout
from supervision.mailbox import Delivery, Reply, post
from supervision.timers import scheduler

#: OTP's gen_server:call default.
DEFAULT_ASK_TIMEOUT_S = 5.0


class Handle:
    __slots__ = ("path",)

    def __init__(self, path: str) -> None:
        self.path = path

    def __repr__(self) -> str:
        return f"Handle({self.path!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Handle) and other.path == self.path

    def __hash__(self) -> int:
        return hash(self.path)

    def resolve(self, wait_s: float = 0.0) -> pykka.ActorRef[Any]:
        ref = registry.lookup(self.path)
        if ref is not None and ref.is_alive():
            return ref
        if wait_s > 0:
            ref = registry.wait_for(self.path, wait_s)
            if ref is not None:
                return ref
        raise ActorUnavailable(self.path, registry.down_reason(self.path) if ref is None else "restarting")

    def is_alive(self) -> bool:
        ref = registry.lookup(self.path)
        return ref is not None and ref.is_alive()

    def tell(self, msg: Any, trace_id: str | None = None, wait_s: float = 0.0, span_id: str | None = None) -> None:
        """Fire and forget. Raises ActorUnavailable if nobody is there to receive it."""
        post(self.resolve(wait_s), Delivery(Envelope.wrap(msg, trace_id, span_id)))

    def ask(
        self, msg: Any, timeout: float = DEFAULT_ASK_TIMEOUT_S, trace_id: str | None = None, wait_s: float = 0.0,
        span_id: str | None = None,
    ) -> Any:
        """Blocking ask for code outside actors. Never call it from inside an actor's handler."""
        reply = Reply()
        post(self.resolve(wait_s), Delivery(Envelope.wrap(msg, trace_id, span_id), reply))
        try:
            return reply.result(timeout)
        except concurrent.futures.TimeoutError:
            error = AskTimeout(self.path, timeout, type(msg).__name__)
            reply.set_exception(error)
            raise error from None

    def ask_future(
        self, msg: Any, timeout: float = DEFAULT_ASK_TIMEOUT_S, trace_id: str | None = None,
        span_id: str | None = None,
    ) -> concurrent.futures.Future[Any]:
        """Non-blocking ask: a future that completes with the answer, the handler's error,
        ActorUnavailable, ActorCrashed or AskTimeout; it is never left pending."""
        reply = Reply()
        try:
            ref = self.resolve()
        except ActorUnavailable as exc:
            reply.set_exception(exc)
            return reply
        path, name = self.path, type(msg).__name__
        token = scheduler().call_later(timeout, lambda: reply.set_exception(AskTimeout(path, timeout, name)))
        reply.add_done_callback(lambda _: token.cancel())
        post(ref, Delivery(Envelope.wrap(msg, trace_id, span_id), reply))
        return reply

    def snapshot(self) -> Any:
        """The immutable snapshot the actor last published (no mailbox hop), or None."""
        return registry.snapshot(self.path)
