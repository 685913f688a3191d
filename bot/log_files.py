"""The JSON log file: a loguru sink whose callers only put the finished line on a queue.

A writer thread takes the lines off the queue in batches, appends them to <LOG_DIR>/arbiter.jsonl,
rotates it by size and/or time (monitoring.retention.due) to arbiter.<UTC time>.jsonl, compresses
the rotated file, and deletes rotated files past the retention. So an actor's log call costs a
queue put, and a slow or full disk delays only the writer, never the actor. (loguru's own
`enqueue=True` pickles every record through a multiprocessing pipe: about ten times the cost.)
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import queue
import shutil
import sys
import threading
import time
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

from monitoring.retention import doomed, due
from protocol.monitoring import Retention, Rotation

BATCH = 4096  # lines written per write() at most
_STOP = object()
_SUFFIX = {"gz": ".gz", "bz2": ".bz2", "xz": ".xz", "zip": ".zip"}


class JsonLogFile:
    def __init__(self, path: Path, rotation: Rotation, retention: Retention, compression: str = "gz",
                 clock: Any = time.time) -> None:
        self.path = path
        self.rotation = rotation
        self.retention = retention
        self.compression = compression
        self.clock = clock
        self.lines_written = 0
        self.write_errors = 0
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._idle = threading.Condition()
        self._pending = 0
        self._file: BinaryIO = self._open()
        self._thread = threading.Thread(target=self._run, name="log-file-writer", daemon=True)
        self._thread.start()

    # --- the caller's side (any thread) ------------------------------------------------------------

    def write(self, message: str) -> None:
        """loguru calls this with the formatted (redacted) line: queue it and return."""
        with self._idle:
            self._pending += 1
        self._queue.put(message)

    def drain(self, timeout_s: float = 10.0) -> bool:
        """Wait until every line queued so far is written (tests, shutdown)."""
        deadline = time.monotonic() + timeout_s
        with self._idle:
            while self._pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def stop(self) -> None:
        """loguru calls this at logger.remove(): write what is queued, then close."""
        self._queue.put(_STOP)
        self._thread.join()

    # --- the writer thread ------------------------------------------------------------------------

    def _open(self) -> BinaryIO:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        f = open(self.path, "ab")  # noqa: SIM115 - held open by the writer thread
        self._size = f.tell()
        self._opened_at = self.clock() if self._size == 0 else os.stat(self.path).st_mtime
        return f

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            batch: list[str] = []
            if first is _STOP:
                stopping = True
            else:
                batch.append(first)
            while len(batch) < BATCH:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                batch.append(item)
            if batch:
                self._write(batch)
                with self._idle:
                    self._pending -= len(batch)
                    self._idle.notify_all()
        self._file.close()

    def _write(self, batch: list[str]) -> None:
        try:
            chunk: list[bytes] = []
            for line in batch:
                data = line.encode()
                if due(self.rotation, self._size + sum(map(len, chunk)), len(data), self._opened_at, self.clock()):
                    self._flush(chunk)
                    chunk = []
                    self._rotate()
                chunk.append(data)
            self._flush(chunk)
        except OSError as exc:  # a full disk loses lines, says so on stderr, and never stops the bot
            self.write_errors += 1
            print(f"arbiter: log file {self.path}: {exc}; {len(batch)} line(s) lost", file=sys.stderr)

    def _flush(self, chunk: list[bytes]) -> None:
        if chunk:
            data = b"".join(chunk)
            self._file.write(data)
            self._file.flush()
            self._size += len(data)
            self.lines_written += len(chunk)

    def _rotate(self) -> None:
        self._file.close()
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime(self.clock()))
        target = self.path.with_name(f"{self.path.stem}.{stamp}{self.path.suffix}")
        n = 1
        while any(target.with_name(target.name + s).exists() for s in ("", *_SUFFIX.values())):
            target = self.path.with_name(f"{self.path.stem}.{stamp}-{n}{self.path.suffix}")
            n += 1
        os.replace(self.path, target)
        self._file = self._open()
        self._compress(target)
        self._retain()

    def _compress(self, path: Path) -> None:
        if self.compression == "none":
            return
        packed = path.with_name(path.name + _SUFFIX[self.compression])
        if self.compression == "zip":
            with zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as z:
                z.write(path, path.name)
        else:
            opener: Any = {"gz": gzip.open, "bz2": bz2.open, "xz": lzma.open}[self.compression]
            with open(path, "rb") as src, opener(packed, "wb") as dst:
                shutil.copyfileobj(src, dst)
        path.unlink()

    def _retain(self) -> None:
        prefix = self.path.stem + "."
        rotated = [(p.name, p.stat().st_mtime) for p in self.path.parent.iterdir()
                   if p.name.startswith(prefix) and p != self.path]
        for name in doomed(rotated, self.retention, self.clock()):
            (self.path.parent / name).unlink(missing_ok=True)
