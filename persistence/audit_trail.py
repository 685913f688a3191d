"""The audit trail on disk: append-only segment files of chained records (monitoring.audit), fsynced.

`append` returns only once the record's line is on disk (write + fsync; a new segment's directory
entry is fsynced too), so a caller acknowledges an action only after its record is durable. Appends
from any thread are serialized by a lock, and across processes sharing the directory by an flock on
`audit.lock`: a writer that finds the files changed under it re-reads the chain's tail first.

Group commit: the lock covers only sealing and writing the line; the fsync happens after it is
released. One caller at a time runs an fsync, which makes durable every line written before it
started; appends that arrive meanwhile write their lines and wait, and the next fsync (run by one of
them) covers them all. So N concurrent appends cost about two fsyncs, not N, and each caller still
returns only after its own record is durable. Closing or replacing the file (rotation, another
process's writes, close) fsyncs it first, under the same fsync lock, so no line is left behind.

A write cut short by a crash leaves a partial last line. It was never acknowledged, so at the next
open it is cut off and a `recovered` record says how many bytes were dropped; the chain goes on.

Layout: <dir>/audit-000001.jsonl, audit-000002.jsonl, ... A segment is closed when it passes
`segment_bytes` or `segment_s`; the next starts with a checkpoint record. `prune` deletes whole old
segments (retention); what remains verifies from its first checkpoint.

One trail per process: the bot opens it at start and `install`s it; the risk book, the executor and
the console append through `current()`.
"""

from __future__ import annotations

import fcntl
import os
import re
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import msgspec

from monitoring import audit
from protocol.secrets import redact, secret_enc_hook

SEGMENT_BYTES = 64 * 1024 * 1024
SEGMENT_S = 24 * 3600.0  # one segment a day, so retention deletes whole days
MAX_FAILURES = 64  # failed fsyncs remembered, so each caller whose line one covered is failed
_SEGMENT = re.compile(r"audit-(\d{6,})\.jsonl")


class AuditPathError(Exception):
    """The trail's directory cannot be created or written: a config error at start."""


class AuditTrailDamaged(Exception):
    """The newest record cannot be read, so the chain cannot be continued: an operator must look."""


class AuditTrailMissing(RuntimeError):
    """Something tried to audit before the process opened its trail (a wiring bug)."""


def segment_name(number: int) -> str:
    return f"audit-{number:06d}.jsonl"


def segment_files(directory: Path) -> list[tuple[int, Path]]:
    """The segment files in `directory`, oldest first."""
    found = []
    for path in directory.iterdir() if directory.is_dir() else ():
        m = _SEGMENT.fullmatch(path.name)
        if m:
            found.append((int(m.group(1)), path))
    return sorted(found)


def plain(body: Any) -> dict[str, Any]:
    """`body` (a Struct or a mapping) as plain data with secrets masked: Secret values encode as ***, and
    every string is passed through the redactor, so no record can carry a credential."""
    data = msgspec.json.decode(msgspec.json.encode(body, enc_hook=_enc_hook))
    if not isinstance(data, dict):
        data = {"value": data}
    return _redacted(data)


def _enc_hook(obj: Any) -> Any:
    try:
        return secret_enc_hook(obj)
    except NotImplementedError:
        return repr(obj)


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(str(k)): _redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_redacted(v) for v in value]
    return value


class AuditTrail:
    def __init__(self, directory: str | os.PathLike[str], *, segment_bytes: int = SEGMENT_BYTES,
                 segment_s: float = SEGMENT_S, clock: Any = time.time) -> None:
        self.directory = Path(directory)
        self.segment_bytes = segment_bytes
        self.segment_s = segment_s
        self.clock = clock
        self._lock = threading.Lock()
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            os.chmod(self.directory, 0o700)
            self._lock_fd = os.open(self.directory / "audit.lock", os.O_CREAT | os.O_RDWR, 0o600)
        except OSError as exc:
            raise AuditPathError(f"config error: audit trail directory {self.directory} is not writable "
                                 f"({exc.strerror or exc}); expected a directory the bot can write") from None
        self._fd: int | None = None
        self._number = 0
        self._size = 0
        self._opened_at = 0.0
        self._last: audit.AuditRecord | None = None
        # group commit: lines written / made durable so far (counted in this process), and who fsyncs
        self._written = 0
        self._durable = 0
        self._syncing = False
        self._failed: list[tuple[int, int, OSError]] = []  # (after, up to, error) of failed fsyncs
        self._synced = threading.Condition()  # guards the three above; notified when an fsync ends
        self._fsync_lock = threading.Lock()  # held by an fsync, and while the file is closed or replaced
        with self._lock, self._flock():
            self._sync_tail(recover=True)
        self._wait_durable(self._written)  # a `recovered` record written at open

    # --- appending ---------------------------------------------------------------------------------

    def append(self, kind: str, body: Any = None, *, actor: str = "", trace_id: str | None = None,
               at: float | None = None) -> audit.AuditRecord:
        """Chain a record of `kind` and make it durable before returning it (its fsync may be shared with
        appends from other threads written meanwhile: group commit)."""
        data = plain(body) if body is not None else {}
        with self._lock, self._flock():
            self._sync_tail(recover=False)
            now = self.clock() if at is None else at
            if self._fd is None or self._size >= self.segment_bytes or now - self._opened_at >= self.segment_s:
                self._rotate(now)
            record = self._write(kind, data, actor, trace_id, now)
            ticket = self._written
        self._wait_durable(ticket)
        return record

    def _write(self, kind: str, data: Mapping[str, Any], actor: str, trace_id: str | None,
               now: float) -> audit.AuditRecord:
        assert self._fd is not None
        prev = self._last.hash if self._last is not None else audit.GENESIS
        seq = self._last.seq + 1 if self._last is not None else 0
        record = audit.seal(seq, now, kind, actor, trace_id, data, prev)
        line = audit.encode_line(record)
        written = os.write(self._fd, line)
        if written != len(line):  # a short write on a full disk: the tail is cut at the next open
            raise OSError(f"audit trail: short write ({written} of {len(line)} bytes)")
        self._size += len(line)
        self._last = record
        with self._synced:
            self._written += 1
        return record

    def _wait_durable(self, ticket: int) -> None:
        """Return once the `ticket`-th line written is on disk: fsync, or wait for the fsync in progress
        and, if that one began before our line was written, run (or wait for) the next. An fsync that
        fails fails every caller whose line it covered (a later fsync's success would not prove them
        durable: the kernel may have dropped the pages), as each append used to fail on its own fsync."""
        while True:
            with self._synced:
                while self._durable < ticket and self._syncing:
                    self._synced.wait()
                failed = next((exc for lo, hi, exc in self._failed if lo < ticket <= hi), None)
                if failed is not None:
                    raise OSError(f"audit trail: fsync failed, the record is not durable: {failed}") from failed
                if self._durable >= ticket:
                    return
                self._syncing = True
                durable, covers = self._durable, self._written  # every line written so far: this fsync's
            try:
                with self._fsync_lock:
                    if self._fd is not None:  # None: closed, and fsynced when it was
                        os.fsync(self._fd)
            except OSError as exc:
                with self._synced:
                    self._failed = [*self._failed[-(MAX_FAILURES - 1):], (durable, covers, exc)]
                    self._syncing = False
                    self._synced.notify_all()
                raise
            with self._synced:
                self._durable = max(self._durable, covers)
                self._syncing = False
                self._synced.notify_all()

    def _replace_fd(self, fd: int | None) -> None:
        """Swap the file appended to (None: none), making every line written to the old one durable first."""
        with self._fsync_lock:
            old, self._fd = self._fd, fd
            if old is not None:
                try:
                    os.fsync(old)
                except OSError as exc:  # the lines waiting in the old file fail; the new one is dropped too
                    with self._synced:
                        self._failed = [*self._failed[-(MAX_FAILURES - 1):], (self._durable, self._written, exc)]
                        self._synced.notify_all()
                    self._fd = None
                    if fd is not None:
                        os.close(fd)
                    raise
                finally:
                    os.close(old)
        with self._synced:
            self._durable = max(self._durable, self._written)
            self._synced.notify_all()

    def _rotate(self, now: float) -> None:
        first = self._fd is None and self._last is None
        self._number += 1
        path = self.directory / segment_name(self._number)
        self._replace_fd(os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND | os.O_EXCL, 0o600))
        dir_fd = os.open(self.directory, os.O_RDONLY)
        try:
            os.fsync(dir_fd)  # the new file's name is durable before any record in it is acknowledged
        finally:
            os.close(dir_fd)
        self._size = 0
        self._opened_at = now
        if first:
            self._write(audit.OPENED, {"format": audit.FORMAT}, "", None, now)
        else:
            self._write(audit.CHECKPOINT, audit.checkpoint_body(self._number, self._last), "", None, now)

    # --- the tail -----------------------------------------------------------------------------------

    def _flock(self) -> _FileLock:
        return _FileLock(self._lock_fd)

    def _sync_tail(self, recover: bool) -> None:
        """Make sure we append after the real last record, whoever wrote it (another process may have)."""
        segments = segment_files(self.directory)
        if not segments:
            self._number, self._last = 0, None
            return
        number, path = segments[-1]
        size = path.stat().st_size
        if self._fd is not None and number == self._number and size == self._size:
            return
        data = path.read_bytes()
        lines, tail = audit.split_lines(data)
        if tail and recover:
            self._cut_partial(path, len(data) - len(tail), len(tail))
            data = data[: len(data) - len(tail)]
        try:
            last = audit.decode_line(lines[-1]) if lines else None
            if last is None and len(segments) > 1:  # an empty newest segment: chain on from the one before
                prev_lines, _ = audit.split_lines(segments[-2][1].read_bytes())
                last = audit.decode_line(prev_lines[-1]) if prev_lines else None
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise AuditTrailDamaged(f"audit trail {path}: the last record does not decode ({exc}); "
                                    "`python run.py audit verify` names what is wrong") from None
        self._replace_fd(os.open(path, os.O_WRONLY | os.O_APPEND))
        self._number, self._size, self._last = number, len(data), last
        try:
            self._opened_at = audit.decode_line(lines[0]).at if lines else self.clock()
        except (msgspec.DecodeError, msgspec.ValidationError):
            self._opened_at = self.clock()
        if tail and recover:
            self._write("recovered", {"segment": path.name, "dropped_bytes": len(tail),
                                      "why": "a partial record left by a crash mid-write (never acknowledged)"},
                        "", None, self.clock())

    @staticmethod
    def _cut_partial(path: Path, keep: int, dropped: int) -> None:
        fd = os.open(path, os.O_WRONLY)
        try:
            os.ftruncate(fd, keep)
            os.fsync(fd)
        finally:
            os.close(fd)

    # --- reading and retention ----------------------------------------------------------------------

    @property
    def last(self) -> audit.AuditRecord | None:
        return self._last

    def records(self) -> Iterator[audit.AuditRecord]:
        yield from read_records(self.directory)

    def prune(self, keep_s: float, now: float | None = None) -> list[str]:
        """Delete the whole segments older than `keep_s` (never the one being written); their names."""
        now = self.clock() if now is None else now
        with self._lock, self._flock():
            ages = []
            for _, path in segment_files(self.directory):
                lines, _ = audit.split_lines(path.read_bytes())
                ages.append((path.name, audit.decode_line(lines[-1]).at if lines else now))
            doomed = audit.prunable(ages, keep_s, now)
            for name in doomed:
                (self.directory / name).unlink()
            return doomed

    def close(self) -> None:
        with self._lock:
            self._replace_fd(None)
            if self._lock_fd >= 0:
                os.close(self._lock_fd)
                self._lock_fd = -1


class _FileLock:
    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __enter__(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)


def read_segments(directory: str | os.PathLike[str]) -> list[tuple[str, bytes]]:
    return [(path.name, path.read_bytes()) for _, path in segment_files(Path(directory))]


def read_records(directory: str | os.PathLike[str]) -> Iterator[audit.AuditRecord]:
    """Every whole, decodable record, oldest first (verify says whether they chain)."""
    for _, data in read_segments(directory):
        lines, _ = audit.split_lines(data)
        for raw in lines:
            try:
                yield audit.decode_line(raw)
            except (msgspec.DecodeError, msgspec.ValidationError):
                continue


def verify_trail(directory: str | os.PathLike[str]) -> audit.Verdict:
    return audit.verify(read_segments(directory))


# --- the process's trail ------------------------------------------------------------------------------

_current: AuditTrail | None = None


def install(trail: AuditTrail | None) -> AuditTrail | None:
    """Make `trail` the one this process appends to (None uninstalls); returns the previous one."""
    global _current
    previous, _current = _current, trail
    return previous


def current() -> AuditTrail:
    if _current is None:
        raise AuditTrailMissing("no audit trail is open in this process (bot.app opens it at start)")
    return _current


def record(kind: str, body: Any = None, *, actor: str = "", trace_id: str | None = None) -> audit.AuditRecord:
    """Append to the process's trail, durably (see AuditTrail.append)."""
    return current().append(kind, body, actor=actor, trace_id=trace_id)
