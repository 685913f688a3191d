"""The language actors speak: frozen msgspec Structs for messages, events, config and wire types."""

from protocol.config import Config, ConfigError, load_config
from protocol.envelope import Envelope, new_trace_id
from protocol.secrets import Secret, redact

__all__ = ["Config", "ConfigError", "Envelope", "Secret", "load_config", "new_trace_id", "redact"]
