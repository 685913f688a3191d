"""SupervisedActor: a pykka ThreadingActor that speaks Envelopes and reports its exit to its supervisor.

What it adds to pykka:
- every abnormal death (a failing tell handler, on_start or on_stop) is captured in one place and
  reaches the supervisor as a ChildExited message;
- at teardown the mailbox is closed and drained: pending asks fail with ActorCrashed / ActorUnavailable
  naming the actor, queued tells are counted and logged as dead letters, later deliveries are refused;
- timers (send_after, send_interval) and `pipe` (a future's outcome told back as a message);
- mailbox lag measured from each Envelope's sent_at.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

import pykka
from loguru import logger
from pykka import messages as pykka_messages

from protocol.envelope import Envelope
from protocol.supervision import ChildExited, Crash
from supervision import registry
from supervision.errors import ActorCrashed, ActorUnavailable, InjectedCrash
from supervision.mailbox import Delivery, Mailbox, post
from supervision.timers import TimerToken, scheduler


class ActorContext:
    """What an actor knows about its place in the tree. Built by its supervisor, one per incarnation."""

    def __init__(
        self,
        path: str,
        child_id: str,
        incarnation: int = 1,
        parent: pykka.ActorRef[Any] | None = None,
    ) -> None:
        self.path = path
        self.child_id = child_id
        self.incarnation = incarnation
        self.parent = parent
        self.current_trace_id: str | None = None
        #: The span id the message being handled arrived with (the sender's stage), or None.
        self.current_span_id: str | None = None
        self._ref: pykka.ActorRef[Any] | None = None
        self.actor: SupervisedActor | None = None
        self._timers: list[TimerToken] = []
        #: Called with the ChildExited of an actor that has no parent (the root): start_tree's hook.
        self.on_exit: Callable[[ChildExited], None] | None = None
        #: Called in the starter's thread once the incarnation has a mailbox and before its thread (and so its
        #: on_start) runs: the supervisor binds the path here, so a tell sent while it starts is queued.
        self.on_spawned: Callable[[pykka.ActorRef[Any]], None] | None = None

    def child_path(self, child_id: str) -> str:
        return f"{self.path.rstrip('/')}/{child_id}"

    def tell_self(self, msg: Any, trace_id: str | None = None, span_id: str | None = None) -> None:
        """Deliver `msg` to this incarnation (dropped as a dead letter if it has died)."""
        if self._ref is not None:
            post(self._ref, Delivery(Envelope.wrap(msg, trace_id or self.current_trace_id, span_id)))

    def send_after(self, delay_s: float, msg: Any) -> TimerToken:
        token = scheduler().call_later(delay_s, lambda: self.tell_self(msg))
        self._timers.append(token)
        return token

    def send_interval(self, period_s: float, msg: Any, initial_delay_s: float | None = None) -> TimerToken:
        first = period_s if initial_delay_s is None else initial_delay_s
        token = scheduler().call_later(first, lambda: self.tell_self(msg), interval_s=period_s)
        self._timers.append(token)
        return token

    def pipe(self, future: concurrent.futures.Future[Any], wrap: Callable[[Any], Any]) -> None:
        """When `future` completes, tell this actor `wrap(result)` or `wrap(exception)` (Akka's pipeTo)."""
        trace_id, span_id = self.current_trace_id, self.current_span_id

        def done(f: concurrent.futures.Future[Any]) -> None:
            exc = f.exception() if not f.cancelled() else concurrent.futures.CancelledError()
            self.tell_self(wrap(exc if exc is not None else f.result()), trace_id, span_id)

        future.add_done_callback(done)

    def cancel_timers(self) -> None:
        for token in self._timers:
            token.cancel()
        self._timers.clear()


class SupervisedActor(pykka.ThreadingActor):
    # A stuck actor must not keep the process alive after the tree is stopped.
    use_daemon_thread = True

    @staticmethod
    def _create_actor_inbox() -> Mailbox:  # type: ignore[override]
        return Mailbox()

    def __init__(self, ctx: ActorContext) -> None:
        super().__init__()
        self.ctx = ctx
        ctx._ref = self.actor_ref
        ctx.actor = self
        self.log = logger.bind(actor=ctx.path)
        self.started_at = time.time()
        self.ready = threading.Event()
        self.crash_reason: str | None = None
        #: Why on_start failed, set before `ready`; None if it returned. Not `crash_reason`: tells queued while
        #: it started are handled right after, and one of them may crash it before its supervisor looks.
        self.start_error: str | None = None
        self.dead_letters = 0
        self._dead_letters_lock = threading.Lock()  # refusals also happen on senders' threads
        self.messages_handled = 0
        self.lag_last_s = 0.0
        self.lag_max_s = 0.0
        #: The actor's thread (set when its loop starts): the sampler maps per-thread CPU and stack
        #: samples to this actor's path through them.
        self.thread_ident: int | None = None
        self.native_thread_id: int | None = None
        self.actor_inbox.on_reject = self._refuse  # type: ignore[attr-defined]

    # --- what subclasses write -------------------------------------------------------------------

    def receive(self, msg: Any) -> Any:
        """Handle one message body; the return value answers an ask."""
        self.log.warning("unhandled message {}", type(msg).__name__)
        return None

    def status(self) -> dict[str, Any]:
        """Extra fields for introspection. Called from other threads: read attributes, mutate nothing."""
        return {}

    def publish(self, snapshot: Any) -> None:
        """Replace the immutable snapshot others read with Handle(path).snapshot()."""
        registry.publish(self.ctx.path, snapshot)

    def on_terminate(self) -> None:
        """Runs in the actor's thread when it dies, crashed or stopped (supervisors stop their children here)."""

    # --- pykka hooks ----------------------------------------------------------------------------

    def on_receive(self, message: Any) -> Any:
        if not isinstance(message, Envelope):
            return super().on_receive(message)
        now = time.time()
        lag = now - message.sent_at
        self.lag_last_s = lag
        if lag > self.lag_max_s:
            self.lag_max_s = lag
        self.messages_handled += 1
        self.ctx.current_trace_id = message.trace_id
        self.ctx.current_span_id = message.span_id
        body = message.body
        if isinstance(body, Crash):
            raise InjectedCrash(body.reason)
        return self.receive(body)

    def _start_actor_loop(self) -> None:
        # Before the thread starts, so that nothing on_start does (publish, tell a peer who answers) can race
        # the binding: from here on a tell to the path waits in the mailbox behind on_start.
        if self.ctx.on_spawned is not None:
            self.ctx.on_spawned(self.actor_ref)
        super()._start_actor_loop()

    def _actor_loop_setup(self) -> None:
        self.thread_ident = threading.get_ident()
        self.native_thread_id = threading.get_native_id()
        try:
            super()._actor_loop_setup()
            self.start_error = self.crash_reason
        finally:
            self.ready.set()

    def _handle_failure(
        self,
        exception_type: type[BaseException] | None,
        exception_value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        # pykka routes every abnormal death through here: failing tell handler, on_start, on_stop.
        if self.crash_reason is None:
            self.crash_reason = f"{exception_type.__name__ if exception_type else 'Error'}: {exception_value}"
        if isinstance(exception_value, InjectedCrash):
            self.log.warning("crash injected: {}", exception_value)
        else:
            self.log.opt(exception=(exception_type, exception_value, traceback)).error(  # type: ignore[arg-type]
                "actor crashed: {}", self.crash_reason
            )
        pykka.ActorRegistry.unregister(self.actor_ref)
        self.actor_stopped.set()

    def _actor_loop_teardown(self) -> None:
        self.ctx.cancel_timers()
        if self.crash_reason is not None:
            try:
                self.on_terminate()
            except Exception:
                self.log.exception("on_terminate failed")
        for item in self.actor_inbox.close():  # type: ignore[attr-defined]
            self._refuse(item)
        if self.dead_letters:
            # Lost work after a crash needs an operator's eye; at a requested stop it is expected.
            level = "WARNING" if self.crash_reason is not None else "INFO"
            self.log.log(level, "{} queued message(s) not handled: dead letters", self.dead_letters)
        exit_msg = ChildExited(
            child_id=self.ctx.child_id,
            path=self.ctx.path,
            incarnation=self.ctx.incarnation,
            abnormal=self.crash_reason is not None,
            reason=self.crash_reason or "normal",
            dead_letters=self.dead_letters,
        )
        if self.ctx.parent is not None:
            post(self.ctx.parent, Delivery(Envelope.wrap(exit_msg)))
        elif self.ctx.on_exit is not None:
            self.ctx.on_exit(exit_msg)

    def on_stop(self) -> None:
        self.on_terminate()

    def _refuse(self, item: Any) -> None:
        """A delivery that will never be handled: fail its ask, or count it as a dead letter."""
        reply = getattr(item, "reply_to", None)
        message = getattr(item, "message", None)
        if reply is None:
            # Exit notes of children stopped while their supervisor shuts down are expected, not lost work.
            if not (isinstance(message, Envelope) and isinstance(message.body, ChildExited)):
                with self._dead_letters_lock:
                    self.dead_letters += 1
            return
        if isinstance(message, pykka_messages._ActorStop):
            reply.set(None)
        elif self.crash_reason is not None:
            reply.set_exception(ActorCrashed(self.ctx.path, self.crash_reason))
        else:
            reply.set_exception(ActorUnavailable(self.ctx.path, "stopped"))
