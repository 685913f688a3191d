"""The envelope every actor message travels in.

It carries the trace id that follows a trade from detection to outcome, and the wall-clock send
time from which mailbox lag is measured. The body is any frozen protocol Struct.
"""

from __future__ import annotations

import os
import time
from typing import Any

import msgspec


def new_trace_id() -> str:
    """A 16-hex-digit random id; short enough for log lines, wide enough never to collide in a day."""
    return os.urandom(8).hex()


class Envelope(msgspec.Struct, frozen=True):
    body: Any
    trace_id: str
    sent_at: float

    @classmethod
    def wrap(cls, body: Any, trace_id: str | None = None) -> Envelope:
        return cls(body=body, trace_id=trace_id or new_trace_id(), sent_at=time.time())
