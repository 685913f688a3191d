"""One logger (loguru) for the whole bot: readable lines (or JSON) on stderr, flat JSON lines in a file.

Every record passes through the patcher before any sink sees it: its message and traceback are
redacted there (protocol.secrets.redact masks every Secret's value and every URL credential), and
every `extra` field put in the JSON line is redacted too (its text, or the text of what it holds). Each
sink writes only those redacted strings. loguru's `diagnose` (variable values in tracebacks) is off
everywhere: it would print secrets held in locals.

The file sink is enqueued (bot.log_files: a caller only queues its line, so a slow disk never blocks
an actor), rotates by size and/or time, gzips rotated files and deletes them past the retention
(protocol.monitoring).
"""

from __future__ import annotations

import datetime
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Any

import msgspec
from loguru import logger

from bot.log_files import JsonLogFile
from protocol.monitoring import Retention, Rotation
from protocol.secrets import redact

CONSOLE_FORMAT = (
    "<green>{time:HH:mm:ss.SSS}</green> <level>{level: <7}</level> "
    "<cyan>{extra[actor]: <24}</cyan> {message}"
)
#: Keys of the JSON line that come from the record itself; any `extra` of the same name is dropped.
_OWN = ("ts", "level", "actor", "trace_id", "span_id", "message", "exception")
_encoder = msgspec.json.Encoder(enc_hook=repr)


class LogPathError(Exception):
    """LOG_DIR cannot be created or written: a config error at start."""


def _location(tb: Any) -> str:
    """Where the exception was raised: the innermost frame's file:function."""
    frame = None
    while tb is not None:
        frame, tb = tb.tb_frame, tb.tb_next
    if frame is None:
        return "?"
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_code.co_name}"


def _patch(record: Any) -> None:
    extra = record["extra"]
    extra.setdefault("actor", "-")
    message = redact(record["message"])
    record["message"] = message
    exc = record["exception"]
    exception: dict[str, str] | None = None
    tb_text = ""
    if exc is not None and exc.type is not None:
        tb_text = redact("".join(traceback.format_exception(exc.type, exc.value, exc.traceback)).rstrip())
        exception = {"type": exc.type.__name__, "message": redact(str(exc.value)), "traceback": tb_text}
        if record["level"].no >= logging.ERROR:
            extra["_error"] = (exc.type.__name__, _location(exc.traceback), exception["message"])
        # formatted and redacted here; no sink formats the traceback (with its locals) again
        record["exception"] = None
    elif record["level"].no >= logging.ERROR:
        extra["_error"] = ("", f"{record['name']}:{record['function']}", message)
    extra["_tb"] = "\n" + tb_text if tb_text else ""
    line: dict[str, Any] = {
        "ts": record["time"].astimezone(datetime.UTC).isoformat(timespec="microseconds")[:-6] + "Z",
        "level": record["level"].name,
        "actor": extra["actor"],
        "trace_id": extra.get("trace_id"),
        "span_id": extra.get("span_id"),
        "message": message,
    }
    for key, value in extra.items():
        if key not in _OWN and not key.startswith("_"):
            line[key] = value if isinstance(value, int | float | bool | None) else _redacted(value)
    if exception is not None:
        line["exception"] = exception
    # the message and traceback are redacted above, the extras here: the line holds nothing unmasked
    extra["_json"] = _encoder.encode(line).decode()


def _redacted(value: Any) -> Any:
    """An extra field's value, its text redacted (containers too; other objects by their repr)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): _redacted(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redacted(v) for v in value]
    if isinstance(value, int | float | bool | None):
        return value
    return redact(str(value))


def _text_format(record: Any) -> str:
    return CONSOLE_FORMAT + "{extra[_tb]}\n"


def _json_format(record: Any) -> str:
    return "{extra[_json]}\n"


class _ToLoguru(logging.Handler):
    """Send stdlib logging (pykka, web3, aiohttp) through loguru, so it is redacted and formatted alike."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.bind(actor=record.name).opt(exception=record.exc_info).log(level, record.getMessage())


def check_writable(directory: Path, what: str, setting: str) -> None:
    """Raise LogPathError (one line) unless `directory` exists or can be made, and takes a file."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".write-check-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise LogPathError(f"config error: {setting}={str(directory)!r}: the {what} is not writable "
                           f"({exc.strerror or exc}); expected a directory the bot can write") from None


def setup_logging(
    level: str = "INFO",
    json_path: Path | None = None,
    stderr: bool = True,
    *,
    terminal_format: str = "text",
    rotation: Rotation = Rotation(),  # noqa: B008 - frozen value
    retention: Retention = Retention(),  # noqa: B008 - frozen value
    compression: str = "gz",
    extra_sinks: tuple[tuple[Any, str], ...] = (),
) -> JsonLogFile | None:
    """(Re)configure every sink; returns the JSON file sink (None without `json_path`). `extra_sinks` are
    (callable sink, level) pairs that receive the patched record's message (the monitor's error sink)."""
    logger.remove()
    logger.configure(patcher=_patch, extra={"actor": "-"})
    if stderr:
        fmt = _json_format if terminal_format == "json" else _text_format
        logger.add(sys.stderr, level=level, format=fmt, diagnose=False, backtrace=False,
                   colorize=None if terminal_format == "text" else False)
    file_sink = None
    if json_path is not None:
        check_writable(json_path.parent, "log directory", "LOG_DIR")
        file_sink = JsonLogFile(json_path, rotation, retention, compression)
        logger.add(file_sink, level="DEBUG", format=_json_format, diagnose=False, backtrace=False, colorize=False)
    for sink, sink_level in extra_sinks:
        logger.add(sink, level=sink_level, format=_json_format, diagnose=False, backtrace=False, colorize=False)
    logging.basicConfig(handlers=[_ToLoguru()], level=logging.WARNING, force=True)
    return file_sink
