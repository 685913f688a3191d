"""The audit trail: the chain catches every kind of tampering, survives segment rotation and the
deletion of old segments, a SIGKILL mid-write, and other processes writing the same directory."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.audit_cli import main as audit_main
from monitoring import audit
from persistence.audit_trail import AuditPathError, AuditTrail, read_records, segment_files, verify_trail
from protocol.secrets import Secret
from tests.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]


class Clock:
    def __init__(self, t: float = 1_700_000_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def fill(directory: Path, n: int, **kwargs) -> AuditTrail:
    trail = AuditTrail(directory, **kwargs)
    for i in range(n):
        trail.append("risk_decision", {"opportunity": f"opp-{i}", "approved": i % 2 == 0}, actor="/risk-book",
                     trace_id=f"{i:032x}")
    return trail


def test_an_untouched_trail_verifies_and_reads_back(tmp_path):
    trail = fill(tmp_path, 20)
    verdict = verify_trail(tmp_path)
    assert verdict.ok and verdict.records == 21 and verdict.first_seq == 0 and verdict.last_seq == 20
    records = list(read_records(tmp_path))
    assert records[0].kind == audit.OPENED and records[0].prev == audit.GENESIS
    assert [r.body["opportunity"] for r in records[1:]] == [f"opp-{i}" for i in range(20)]
    assert all(b.prev == a.hash for a, b in itertools.pairwise(records))
    assert trail.last == records[-1]


def test_a_reopened_trail_chains_on(tmp_path):
    fill(tmp_path, 3).close()
    again = AuditTrail(tmp_path)
    again.append("config", {"x": 1})
    verdict = verify_trail(tmp_path)
    assert verdict.ok and verdict.records == 5


# --- tampering, property-tested --------------------------------------------------------------------


def _lines(tmp_path: Path) -> list[bytes]:
    [(_, path)] = segment_files(tmp_path)
    return path.read_bytes().split(b"\n")[:-1]


def _write(tmp_path: Path, lines: list[bytes]) -> None:
    [(_, path)] = segment_files(tmp_path)
    path.write_bytes(b"".join(line + b"\n" for line in lines))


def _edit(line: bytes, field: str) -> bytes:
    data = msgspec.json.decode(line)
    if field == "body":
        data["body"]["approved"] = not data["body"].get("approved", False)
        data["body"]["edited"] = True
    elif field == "at":
        data["at"] += 1.0
    else:
        data["kind"] = data["kind"] + "-x"
    return msgspec.json.encode(data)


TAMPERING = st.sampled_from(["edit", "delete", "insert", "swap", "truncate"])


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> list[bytes]:
    directory = tmp_path_factory.mktemp("pristine")
    fill(directory, 30).close()
    return _lines(directory)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=TAMPERING, where=st.integers(0, 30), other=st.integers(0, 30),
       field=st.sampled_from(["body", "at", "kind"]), cut=st.integers(1, 40))
def test_verify_names_the_first_bad_record_for_every_kind_of_tampering(tmp_path, pristine, kind, where, other,
                                                                       field, cut):
    directory = tmp_path / f"t-{kind}-{where}-{other}-{field}-{cut}"
    directory.mkdir()
    (directory / "audit-000001.jsonl").write_bytes(b"")
    lines = list(pristine)
    expected_line = where + 1  # 1-based line of the first record that must be reported
    match kind:
        case "edit":
            lines[where] = _edit(lines[where], field)
        case "delete":
            del lines[where]
            if where == len(lines):  # removing the very last record leaves a shorter, whole chain
                _write(directory, lines)
                assert verify_trail(directory).ok
                return
        case "insert":
            # a copy of another record (a replay) or a forged one with a freshly computed own hash
            forged = audit.decode_line(lines[other])
            if field == "body":
                forged = audit.seal(forged.seq, forged.at, "emergency_stop_reset", "/console", None,
                                    {"by": "mallory"}, forged.prev)
            lines.insert(where, audit.encode_line(forged).rstrip(b"\n"))
        case "swap":
            if where == other:
                other = (where + 1) % len(lines)
            lines[where], lines[other] = lines[other], lines[where]
            expected_line = min(where, other) + 1
        case "truncate":
            last = lines.pop()
            _write(directory, lines)
            with open(directory / "audit-000001.jsonl", "ab") as f:
                f.write(last[: min(cut, len(last) - 1)])
            verdict = verify_trail(directory)
            assert not verdict.ok and "truncated tail" in verdict.finding.problem
            assert verdict.records == len(lines) and verdict.finding.line == len(lines) + 1
            return
    _write(directory, lines)
    verdict = verify_trail(directory)
    assert not verdict.ok, f"{kind} at {where} went unnoticed"
    assert verdict.finding is not None
    # the bad record is named at the first line that differs from the untouched trail (or the next one,
    # when the changed line is itself a whole valid record whose successor no longer chains to it)
    first_diff = next(i for i, (a, b) in enumerate(zip([*lines, b""], [*pristine, b""])) if a != b) + 1
    assert verdict.finding.line in (first_diff, first_diff + 1)
    assert verdict.records == verdict.finding.line - 1
    if kind == "edit":
        assert verdict.finding.line == expected_line and "edited" in verdict.finding.problem


def test_rotation_and_deleting_old_segments_still_verify(tmp_path):
    clock = Clock()
    trail = AuditTrail(tmp_path, segment_s=3600.0, clock=clock)
    for i in range(50):
        trail.append("trade_mined", {"i": i})
        clock.t += 300.0  # a new segment every 12 records
    files = segment_files(tmp_path)
    assert len(files) >= 4
    assert verify_trail(tmp_path).ok
    first_records = [next(read_records_of(path)) for _, path in files]
    assert first_records[0].kind == audit.OPENED
    assert all(r.kind == audit.CHECKPOINT for r in first_records[1:])
    # retention: keep the last 2 hours; whole older segments go, the newest is never touched
    deleted = trail.prune(keep_s=2 * 3600.0)
    assert deleted and deleted == [p.name for _, p in files[: len(deleted)]]
    verdict = verify_trail(tmp_path)
    assert verdict.ok and verdict.first_seq > 0
    trail.append("config", {"after": "pruning"})
    assert verify_trail(tmp_path).ok
    # deleting a middle segment, unlike retention, breaks the chain
    remaining = segment_files(tmp_path)
    remaining[1][1].unlink()
    verdict = verify_trail(tmp_path)
    assert not verdict.ok and verdict.finding.segment == remaining[2][1].name


def read_records_of(path: Path):
    for raw in path.read_bytes().split(b"\n")[:-1]:
        yield audit.decode_line(raw)


def test_a_partial_tail_is_cut_at_the_next_open_and_said_so(tmp_path):
    fill(tmp_path, 5).close()
    [(_, path)] = segment_files(tmp_path)
    with open(path, "ab") as f:
        f.write(b'{"actor":"/risk-book","at":17000')
    assert "truncated tail" in verify_trail(tmp_path).finding.problem
    trail = AuditTrail(tmp_path)
    assert trail.last.kind == "recovered" and trail.last.body["dropped_bytes"] == 32
    assert verify_trail(tmp_path).ok


def test_sigkill_mid_write_leaves_a_trail_that_verifies_to_its_last_whole_record(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "tests.monitoring.audit_writer", str(tmp_path)],
                            cwd=REPO, stdout=subprocess.PIPE, text=True)
    acked = -1
    assert proc.stdout is not None
    for line in proc.stdout:  # blocks on the pipe: each line is an acknowledged (fsynced) record
        acked = int(line.split()[0])
        if acked >= 300:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    verdict = verify_trail(tmp_path)
    # whatever the kill cut, every acknowledged record is there and chains
    assert verdict.ok or "truncated tail" in verdict.finding.problem
    assert verdict.last_seq is not None and verdict.last_seq >= acked
    trail = AuditTrail(tmp_path)  # the next start cuts any partial tail and chains on
    trail.append("config", {"restarted": True})
    verdict = verify_trail(tmp_path)
    assert verdict.ok and verdict.last_seq >= acked + 1


def test_sigkill_while_eight_threads_append_keeps_every_acknowledged_record_in_one_chain(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "tests.monitoring.audit_writer", str(tmp_path), "8"],
                            cwd=REPO, stdout=subprocess.PIPE, text=True)
    acked: dict[int, str] = {}
    assert proc.stdout is not None
    for line in proc.stdout:  # each line: a record whose append returned (its shared fsync done)
        seq, digest = line.split()
        acked[int(seq)] = digest
        if len(acked) >= 400:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    on_disk = {r.seq: r.hash for r in read_records(tmp_path)}
    assert {seq: on_disk.get(seq) for seq in acked} == acked  # every acknowledged record, as acknowledged
    verdict = verify_trail(tmp_path)
    assert verdict.ok or "truncated tail" in verdict.finding.problem
    trail = AuditTrail(tmp_path)  # the next start cuts any partial tail and chains on
    trail.append("config", {"restarted": True})
    trail.close()
    verdict = verify_trail(tmp_path)
    assert verdict.ok and verdict.last_seq is not None and verdict.last_seq > max(acked)


class GatedFsync:
    """os.fsync that counts its calls and holds the first one until `release` (to see who shares it)."""

    def __init__(self) -> None:
        self.calls = 0
        self.first_started = threading.Event()
        self.release = threading.Event()
        self.real = os.fsync

    def __call__(self, fd: int) -> None:
        self.calls += 1
        if self.calls == 1:
            self.first_started.set()
            assert self.release.wait(30.0), "the first fsync was never released"
        self.real(fd)


def test_appends_that_arrive_during_an_fsync_share_the_next_one_and_all_wait_for_it(tmp_path, monkeypatch):
    trail = AuditTrail(tmp_path)
    trail.append("config", {"n": -1})  # the segment exists (its directory fsync is done)
    fsync = GatedFsync()
    monkeypatch.setattr(os, "fsync", fsync)
    results: dict[int, audit.AuditRecord] = {}
    done = threading.Condition()

    def append(n: int) -> None:
        record = trail.append("risk_decision", {"n": n}, actor=f"/t{n}")
        with done:
            results[n] = record
            done.notify_all()

    first = threading.Thread(target=append, args=(0,), daemon=True)
    first.start()
    assert fsync.first_started.wait(30.0)  # thread 0's fsync is in progress...
    others = [threading.Thread(target=append, args=(n,), daemon=True) for n in range(1, 8)]
    for t in others:
        t.start()
    # ...while the other seven write their lines (they are in the file) and wait, unacknowledged
    wait_until(lambda: len(list(read_records(tmp_path))) == 1 + 1 + 8, timeout=30.0, what="8 lines written")
    assert results == {} and fsync.calls == 1
    fsync.release.set()
    wait_until(lambda: len(results) == 8, timeout=30.0, what="8 appends acknowledged", changed=done)
    for t in [first, *others]:
        t.join(10.0)
    assert fsync.calls == 2  # thread 0's, and one the other seven shared
    assert sorted(r.seq for r in results.values()) == list(range(2, 10))
    trail.close()
    assert verify_trail(tmp_path).ok


def test_a_failed_fsync_fails_every_append_it_covered(tmp_path, monkeypatch):
    trail = AuditTrail(tmp_path)
    trail.append("config", {})

    def broken(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError, match="Input/output error"):
        trail.append("risk_decision", {"n": 1})
    monkeypatch.undo()
    trail.append("risk_decision", {"n": 2})  # the disk is back: later records are durable again
    trail.close()
    assert [r.kind for r in read_records(tmp_path)][-2:] == ["risk_decision", "risk_decision"]
    assert verify_trail(tmp_path).ok


def test_two_processes_appending_to_one_directory_keep_one_chain(tmp_path):
    procs = [subprocess.Popen([sys.executable, "-m", "tests.monitoring.audit_writer", str(tmp_path)],
                              cwd=REPO, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    for proc in procs:
        assert proc.stdout is not None
        for line in proc.stdout:
            if int(line.split()[0]) >= 200:
                break
    for proc in procs:
        proc.kill()
        proc.wait(timeout=10)
    AuditTrail(tmp_path).close()  # cut any partial tail
    verdict = verify_trail(tmp_path)
    assert verdict.ok and verdict.records > 200


def test_secrets_never_reach_a_record(tmp_path):
    key = Secret("0x" + "ab" * 32)
    trail = AuditTrail(tmp_path)
    trail.append("config", {"private_key": key, "rpc": "https://user:hunter2pass@rpc.example/v3/abcdef0123456789abcd",
                            "note": f"key was {key.reveal()}"})
    data = b"".join(path.read_bytes() for _, path in segment_files(tmp_path))
    for secret in (key.reveal(), "hunter2pass", "abcdef0123456789abcd"):
        assert secret.encode() not in data
    assert verify_trail(tmp_path).ok


def test_an_unwritable_directory_is_a_one_line_config_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(AuditPathError) as err:
        AuditTrail(blocker / "audit")
    assert str(err.value).startswith("config error: audit trail directory") and "\n" not in str(err.value)


def test_the_cli_verifies_and_shows(tmp_path, capsys):
    clock = Clock()
    trail = AuditTrail(tmp_path, clock=clock)
    trail.append("emergency_stop", {"by": "alice", "reason": "gas spike"}, actor="/risk-book")
    clock.t += 7200
    trail.append("emergency_stop_reset", {"by": "bob", "reason": "calm"}, actor="/risk-book")
    assert audit_main(["verify", str(tmp_path)]) == 0
    assert "OK, 3 records" in capsys.readouterr().out
    assert audit_main(["show", str(tmp_path), "--kind", "emergency_stop_reset"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and "emergency_stop_reset /risk-book" in out[0] and '"by":"bob"' in out[0]
    assert audit_main(["show", str(tmp_path), "--since", "2023-11-14T23:00:00"]) == 0
    assert len(capsys.readouterr().out.strip().splitlines()) == 1
    [(_, path)] = segment_files(tmp_path)
    path.write_bytes(path.read_bytes().replace(b'"by":"alice"', b'"by":"mallory"'))
    assert audit_main(["verify", str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "BROKEN at audit-000001.jsonl line 2 (seq 1)" in out and "edited" in out
