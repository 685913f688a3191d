"""The audit chain: records that each carry the SHA-256 of the one before and of themselves.

A record's hash is the SHA-256 of its canonical msgspec JSON (every field but `hash`, keys sorted),
and its `prev` is the hash of the record before it, so editing, removing, inserting or reordering any
record breaks the chain at a place `verify` names. The trail is kept in segments (files): a new segment
starts with a `checkpoint` record whose `prev` is the last hash of the segment before, so deleting the
oldest segments leaves a trail that still verifies from its first checkpoint on.

Pure: bytes and records in, records and findings out. The files, fsync and locks are
persistence/audit_trail.py's.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

import msgspec

#: `prev` of the very first record of a trail: nothing came before it.
GENESIS = "0" * 64
CHECKPOINT = "checkpoint"
#: The first record of a new trail (segment 1): it names the trail's format.
OPENED = "trail_opened"
FORMAT = 1


class AuditRecord(msgspec.Struct, frozen=True):
    """One line of the trail. `body` is plain data (secrets already masked by whoever built it)."""

    seq: int
    at: float
    kind: str
    actor: str
    trace_id: str | None
    body: dict[str, Any]
    prev: str
    hash: str = ""


_encoder = msgspec.json.Encoder(order="sorted")
_decoder = msgspec.json.Decoder(AuditRecord)


def canonical(record: AuditRecord) -> bytes:
    """The bytes the record's hash is taken over: its JSON with keys sorted and without `hash`."""
    fields = msgspec.structs.asdict(record)
    del fields["hash"]
    return _encoder.encode(fields)


def digest(record: AuditRecord) -> str:
    return hashlib.sha256(canonical(record)).hexdigest()


def seal(seq: int, at: float, kind: str, actor: str, trace_id: str | None, body: Mapping[str, Any],
         prev: str) -> AuditRecord:
    """A new record chained after `prev`, with its own hash filled in."""
    unsealed = AuditRecord(seq=seq, at=at, kind=kind, actor=actor, trace_id=trace_id, body=dict(body), prev=prev)
    return msgspec.structs.replace(unsealed, hash=digest(unsealed))


def encode_line(record: AuditRecord) -> bytes:
    """The record as one line of its segment file (canonical JSON with the hash, then a newline)."""
    return _encoder.encode(record) + b"\n"


def decode_line(line: bytes) -> AuditRecord:
    """Raises msgspec.DecodeError / ValidationError for a line that is not a whole record."""
    return _decoder.decode(line)


def checkpoint_body(segment: int, previous: AuditRecord | None) -> dict[str, Any]:
    """What a segment's first record carries forward: where the chain stood at the end of the last one."""
    return {
        "segment": segment,
        "previous_seq": previous.seq if previous is not None else None,
        "previous_hash": previous.hash if previous is not None else GENESIS,
    }


class Finding(msgspec.Struct, frozen=True):
    """The first thing wrong with a trail: where (segment name, line, seq) and what."""

    segment: str
    line: int
    seq: int | None
    problem: str

    def __str__(self) -> str:
        at = f"seq {self.seq}" if self.seq is not None else "a record"
        return f"{self.segment} line {self.line} ({at}): {self.problem}"


class Verdict(msgspec.Struct, frozen=True):
    """`ok` when every record chains; otherwise `finding` names the first bad one. `records` counts the
    whole records that verified before it; `last_seq` / `last_hash` is where the good chain ends."""

    ok: bool
    records: int
    last_seq: int | None
    last_hash: str | None
    first_seq: int | None = None
    finding: Finding | None = None


def split_lines(data: bytes) -> tuple[list[bytes], bytes]:
    """(the whole lines without their newline, the partial tail after the last newline)."""
    *lines, tail = data.split(b"\n")
    return lines, tail


def verify(segments: Sequence[tuple[str, bytes]]) -> Verdict:
    """Check the chain over `segments` (name, content), oldest first.

    The first segment present must start with the trail's first record (seq 0, prev GENESIS) or with
    a checkpoint (older segments were deleted by retention); every later record must carry the
    previous record's hash as `prev`, its own hash must match its content, and seqs must count up by
    one. A partial last line (a write cut short by a crash) is reported as a truncated tail.
    """
    prev: AuditRecord | None = None
    count = 0
    first_seq: int | None = None

    def fail(name: str, line: int, seq: int | None, problem: str) -> Verdict:
        return Verdict(ok=False, records=count, last_seq=prev.seq if prev else None,
                       last_hash=prev.hash if prev else None, first_seq=first_seq,
                       finding=Finding(name, line, seq, problem))

    for index, (name, data) in enumerate(segments):
        lines, tail = split_lines(data)
        for number, raw in enumerate(lines, start=1):
            try:
                record = decode_line(raw)
            except (msgspec.DecodeError, msgspec.ValidationError) as exc:
                return fail(name, number, None, f"not a whole record ({exc})")
            if record.hash != digest(record):
                return fail(name, number, record.seq, "its hash does not match its content: the record was edited")
            if prev is None:
                if record.seq == 0 and record.prev == GENESIS:
                    pass
                elif record.kind == CHECKPOINT and number == 1:
                    pass  # older segments were deleted: the chain is anchored at this checkpoint
                else:
                    return fail(name, number, record.seq,
                                "the trail does not start with its first record or a segment checkpoint")
                first_seq = record.seq
            else:
                if record.prev != prev.hash:
                    return fail(name, number, record.seq, _break(prev, record))
                if record.seq != prev.seq + 1:
                    return fail(name, number, record.seq, f"seq follows {prev.seq}: {_break(prev, record)}")
            if number == 1 and index > 0 and record.kind != CHECKPOINT:
                return fail(name, number, record.seq, "a segment that does not start with a checkpoint")
            prev = record
            count += 1
        if tail:
            if index == len(segments) - 1:
                return fail(name, len(lines) + 1, None,
                            f"truncated tail: {len(tail)} bytes of a partial record after the last whole one")
            return fail(name, len(lines) + 1, None, "a partial record in the middle of the trail")
    return Verdict(ok=True, records=count, last_seq=prev.seq if prev else None,
                   last_hash=prev.hash if prev else None, first_seq=first_seq)


def _break(prev: AuditRecord, record: AuditRecord) -> str:
    if record.seq > prev.seq + 1:
        return f"does not chain to seq {prev.seq}: {record.seq - prev.seq - 1} record(s) removed before it"
    if record.seq <= prev.seq:
        return f"does not chain to seq {prev.seq}: a record inserted or moved here"
    return f"does not chain to seq {prev.seq}: a record inserted, removed or replaced before it"


def select(records: Iterable[AuditRecord], since: float | None = None,
           kinds: Iterable[str] | None = None) -> Iterator[AuditRecord]:
    """The records at or after `since` whose kind is one of `kinds` (all when None)."""
    wanted = set(kinds) if kinds else None
    for record in records:
        if since is not None and record.at < since:
            continue
        if wanted is not None and record.kind not in wanted:
            continue
        yield record


def prunable(segments: Sequence[tuple[str, float]], keep_s: float, now: float) -> list[str]:
    """The segments retention may delete: every one whose newest record (`last_at`) is older than
    `keep_s`, except the newest segment (it is being written) and never one after a kept segment,
    so what remains is always a contiguous tail of the chain."""
    doomed: list[str] = []
    for name, last_at in segments[:-1]:
        if now - last_at <= keep_s:
            break
        doomed.append(name)
    return doomed
