"""One logger (loguru) for the whole bot: readable lines on stderr, JSON lines in a file.

Every record passes through `redact` before any sink sees it, so a secret that slips into a
message or an exception is masked at the source. loguru's `diagnose` (variable values in
tracebacks) is off everywhere: it would print secrets held in locals.
"""

from __future__ import annotations

import logging
import sys
import traceback
from pathlib import Path
from typing import Any

from loguru import logger

from protocol.secrets import redact

CONSOLE_FORMAT = (
    "<green>{time:HH:mm:ss.SSS}</green> <level>{level: <7}</level> "
    "<cyan>{extra[actor]: <24}</cyan> {message}"
)


def _patch(record: Any) -> None:
    record["extra"].setdefault("actor", "-")
    message = record["message"]
    exc = record["exception"]
    if exc is not None and exc.type is not None:
        # The traceback is formatted here, redacted, and carried in the message; no sink formats it again.
        message += "\n" + "".join(traceback.format_exception(exc.type, exc.value, exc.traceback)).rstrip()
        record["exception"] = None
    record["message"] = redact(message)


class _ToLoguru(logging.Handler):
    """Send stdlib logging (pykka, web3, aiohttp) through loguru, so it is redacted and formatted alike."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        logger.bind(actor=record.name).opt(exception=record.exc_info).log(level, record.getMessage())


def setup_logging(level: str = "INFO", json_path: Path | None = None, stderr: bool = True) -> None:
    logger.remove()
    logger.configure(patcher=_patch, extra={"actor": "-"})
    if stderr:
        logger.add(sys.stderr, level=level, format=CONSOLE_FORMAT, diagnose=False, colorize=None)
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        logger.add(
            json_path, level="DEBUG", serialize=True, diagnose=False,
            rotation="50 MB", retention=10, enqueue=True,
        )
    logging.basicConfig(handlers=[_ToLoguru()], level=logging.WARNING, force=True)
