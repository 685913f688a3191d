"""The language actors speak: frozen msgspec Structs for messages, events, config and wire types."""

from protocol.envelope import Envelope, new_trace_id

__all__ = ["Envelope", "new_trace_id"]
