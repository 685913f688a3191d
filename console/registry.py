"""The console's commands: a registry that other parts of the bot add theirs to.

    register_command("risk", argparse.ArgumentParser(prog="risk", description=...), handler)

A handler takes the parsed `argparse.Namespace` and returns a str (printed as is), a `Table`, or
any JSON-able value (printed as indented JSON); raising `CommandError` (or anything) answers with
an error line. A command registered with `audited=True` changes state (estop, reset, kill, fault,
...): each run of it is appended to the audit trail (who asked, the redacted command line, the
outcome) and fsynced before its answer goes back; with no trail open it is refused.
Every command gets `--help` from its parser. Parsers are plain argparse parsers;
the registry makes them report usage errors and help as values instead of exiting the process.
"""

from __future__ import annotations

import argparse
import io
import re
import threading
from collections.abc import Callable
from typing import Any, NoReturn

import msgspec

from console.wire import Response, Table
from persistence import audit_trail
from protocol.secrets import redact, secret_enc_hook

Handler = Callable[[argparse.Namespace], Any]


class CommandError(Exception):
    """A command's clean refusal (`no actor at /x; try tree`): shown to the operator as is."""


class _Usage(Exception):
    """argparse wanted to print `text` and stop: help (ok) or a usage error (not ok)."""

    def __init__(self, text: str, ok: bool) -> None:
        super().__init__(text)
        self.text, self.ok = text, ok


_capture = threading.local()


def count_of(things: str) -> Callable[[str], int]:
    """An argparse type for `--N`-style counts of `things` (traces, records): a whole number, at least 1."""
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of {things}") from None
        if n < 1:
            one = things.removesuffix("s")
            raise argparse.ArgumentTypeError(f"{n} {things}: expected 1 or more (expected at least 1 {one} to show)")
        return n
    return parse


def _tame(parser: argparse.ArgumentParser) -> None:
    """Make `parser` (and its sub-parsers) raise instead of printing and exiting the process."""

    def print_message(message: str, file: Any = None) -> None:
        buffer: io.StringIO | None = getattr(_capture, "buffer", None)
        if buffer is not None and message:
            buffer.write(message)

    def exit_(status: int = 0, message: str | None = None) -> NoReturn:
        buffer: io.StringIO | None = getattr(_capture, "buffer", None)
        text = (buffer.getvalue() if buffer else "") + (message or "")
        raise _Usage(text.rstrip("\n"), ok=status == 0)

    def error(message: str) -> NoReturn:
        raise _Usage(f"{parser.format_usage().rstrip()}\n{parser.prog}: error: {message}", ok=False)

    parser._print_message = print_message  # type: ignore[method-assign]
    parser.exit = exit_  # type: ignore[method-assign]
    parser.error = error  # type: ignore[method-assign]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _tame(sub)


def _rename(parser: argparse.ArgumentParser, old: str, new: str) -> None:
    """Set prog to the command's name, in sub-parsers too (their prog was copied from the parent's)."""
    if parser.prog == old or parser.prog.startswith(old + " "):
        parser.prog = new + parser.prog[len(old):]
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _rename(sub, old, new)


class Command(msgspec.Struct, frozen=True):
    name: str
    parser: Any  # argparse.ArgumentParser
    handler: Any  # Handler
    audited: bool = False  # it changes state: every run goes to the audit trail

    @property
    def summary(self) -> str:
        text = self.parser.description or self.parser.format_usage()
        return str(text).strip().splitlines()[0]


_CAMEL = re.compile(r"[a-z][a-z0-9]*(?:[A-Z][a-z0-9]+)+")
_HUMP = re.compile(r"(?<=[a-z0-9])([A-Z])")


def snake_case_keys(value: Any) -> Any:
    """The console speaks snake_case, as the TOML config does: camelCase keys (the seed's report Structs)
    become snake_case. Only keys that are camelCase words change; names, paths, hashes and symbols stay."""
    if isinstance(value, dict):
        return {(_HUMP.sub(r"_\1", k).lower() if isinstance(k, str) and _CAMEL.fullmatch(k) else k):
                snake_case_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [snake_case_keys(v) for v in value]
    return value


def to_response(request_id: int, value: Any) -> Response:
    """A handler's return value as a Response (secrets masked by the encoder hook; keys in snake_case)."""
    if value is None:
        return Response(id=request_id, ok=True, kind="text", body="")
    if isinstance(value, str):
        return Response(id=request_id, ok=True, kind="text", body=value)
    if isinstance(value, Table):
        return Response(id=request_id, ok=True, kind="table", body=msgspec.to_builtins(value))
    body = snake_case_keys(msgspec.to_builtins(value, enc_hook=secret_enc_hook))
    return Response(id=request_id, ok=True, kind="data", body=body)


class CommandRegistry:
    def __init__(self) -> None:
        self._commands: dict[str, Command] = {}
        self._lock = threading.Lock()

    def register_command(self, name: str, parser: argparse.ArgumentParser, handler: Handler, *,
                         audited: bool = False) -> None:
        """Add (or replace) command `name`; its parser's prog is set to `name` for help and usage.
        `audited`: the command changes state, so each run is recorded in the audit trail."""
        if not name or any(c.isspace() for c in name):
            raise ValueError(f"console command name {name!r} must be one word")
        _rename(parser, parser.prog, name)
        _tame(parser)
        with self._lock:
            self._commands[name] = Command(name=name, parser=parser, handler=handler, audited=audited)

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._commands)

    def get(self, name: str) -> Command | None:
        with self._lock:
            return self._commands.get(name)

    def help_text(self, name: str) -> str:
        command = self.get(name)
        if command is None:
            raise CommandError(f"unknown command {name!r}; try `help`")
        return str(command.parser.format_help()).rstrip("\n")

    def run(self, argv: list[str], request_id: int = 0) -> Response:
        """Parse and run one command line. Never raises: every outcome is a Response."""
        if not argv:
            return Response(id=request_id, ok=True, body="")
        command = self.get(argv[0])
        if command is None:
            return Response(id=request_id, ok=False, error=f"unknown command {argv[0]!r}; try `help`")
        _capture.buffer = io.StringIO()
        try:
            args = command.parser.parse_args(argv[1:])
        except _Usage as usage:
            if usage.ok:
                return Response(id=request_id, ok=True, body=usage.text)
            return Response(id=request_id, ok=False, error=usage.text)
        finally:
            _capture.buffer = None
        if command.audited:
            try:
                trail = audit_trail.current()
            except audit_trail.AuditTrailMissing as exc:
                return Response(id=request_id, ok=False, error=f"{argv[0]} refused: {exc}")
        try:
            response = to_response(request_id, command.handler(args))
        except CommandError as exc:
            response = Response(id=request_id, ok=False, error=str(exc))
        except Exception as exc:
            response = Response(id=request_id, ok=False, error=f"{argv[0]} failed: {type(exc).__name__}: {exc}")
        if command.audited:
            trail.append("console_command", {
                "command": argv[0], "argv": [redact(a) for a in argv[1:]], "by": str(getattr(args, "by", "console")),
                "ok": response.ok, "error": response.error,
            }, actor="/console")
        return response


#: The process-wide registry the console server serves by default.
COMMANDS = CommandRegistry()


def register_command(name: str, parser: argparse.ArgumentParser, handler: Handler, *, audited: bool = False) -> None:
    """Add a command to the process-wide registry (see CommandRegistry.register_command)."""
    COMMANDS.register_command(name, parser, handler, audited=audited)
