"""The envelope every actor message travels in.

It carries the trace id that follows a trade from detection to outcome, the span id of the stage the
sender was in (W3C trace context's parent id: the receiver's spans and log lines join that stage, so
context crosses actors in the message, never in thread-locals), and the wall-clock send time from
which mailbox lag is measured. The body is any frozen protocol Struct.
"""

from __future__ import annotations

import os
import time
from typing import Any

import msgspec


def new_trace_id() -> str:
    """A random 128-bit id in 32 lower-case hex digits: the OpenTelemetry trace id of what it follows
    (W3C trace context's format), so logs, spans and exported traces all name it alike."""
    return os.urandom(16).hex()


class Envelope(msgspec.Struct, frozen=True):
    body: Any
    trace_id: str
    sent_at: float
    span_id: str | None = None  # 16 hex digits, or None outside a traced stage

    @classmethod
    def wrap(cls, body: Any, trace_id: str | None = None, span_id: str | None = None) -> Envelope:
        return cls(body=body, trace_id=trace_id or new_trace_id(), sent_at=time.time(), span_id=span_id)
