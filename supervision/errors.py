"""Errors of the actor runtime: tagged values that name the actor and the reason."""

from __future__ import annotations


class ActorError(Exception):
    """Base of every runtime error; `path` names the actor concerned."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path = path


class ActorUnavailable(ActorError):
    """The actor at `path` is restarting, stopped or was never started: the message was not delivered."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, f"actor {path} is unavailable: {reason}")
        self.reason = reason


class AskTimeout(ActorError):
    """No answer from `path` within `timeout` seconds."""

    def __init__(self, path: str, timeout: float, message_type: str) -> None:
        super().__init__(path, f"ask {message_type} to {path} timed out after {timeout:g}s")
        self.timeout = timeout
        self.message_type = message_type


class ActorCrashed(ActorError):
    """The actor died before answering; `error` is what killed it."""

    def __init__(self, path: str, error: str) -> None:
        super().__init__(path, f"actor {path} died before answering: {error}")
        self.error = error


class RestartIntensityExceeded(ActorError):
    """A supervisor saw more than `restarts` restarts in `period` seconds and gave up (OTP's escalation)."""

    def __init__(self, path: str, restarts: int, period: float) -> None:
        super().__init__(path, f"supervisor {path} exceeded {restarts} restarts in {period:g}s; escalating")
        self.restarts = restarts
        self.period = period


class InjectedCrash(Exception):
    """Raised inside an actor on purpose (console `kill`, tests) to exercise supervision."""
