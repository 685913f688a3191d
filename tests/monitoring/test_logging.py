"""The bot's log sinks in a real child process: flat JSON lines, rotation under load that loses no line,
secrets masked on every sink (terminal, live file, rotated and gzipped files), and an unwritable LOG_DIR."""

from __future__ import annotations

import datetime
import gzip
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from tests.monitoring.log_writer import BOT_TOKEN, PRIVATE_KEY, RPC_URL, WEBHOOK

REPO = Path(__file__).resolve().parents[2]
SECRETS = (PRIVATE_KEY, PRIVATE_KEY[2:], WEBHOOK, "AbCdEfGhIjKlMnOpQrStUvWxYz0123456789", BOT_TOKEN,
           "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", RPC_URL, "s3cretPassw0rd", "0123456789abcdef0123")


def run_writer(directory: Path, n: int, threads: int, terminal_format: str = "text") -> str:
    done = subprocess.run([sys.executable, "-m", "tests.monitoring.log_writer", str(directory), str(n),
                           str(threads), terminal_format], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "DONE" in done.stdout, done.stderr[-2000:]
    return done.stderr


def every_file(directory: Path, logs_only: bool = True) -> dict[str, bytes]:
    out = {}
    for path in sorted(directory.rglob("*")):
        if not path.is_file() or (logs_only and path.parent != directory):
            continue
        data = path.read_bytes()
        out[str(path.relative_to(directory))] = gzip.decompress(data) if path.suffix == ".gz" else data
    return out


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> tuple[Path, str]:
    directory = tmp_path_factory.mktemp("logs")
    return directory, run_writer(directory, n=3000, threads=4)


def test_rotation_under_load_loses_no_line(written):
    directory, _ = written
    files = every_file(directory)
    assert len(files) > 5 and any(name.endswith(".gz") for name in files)  # it did rotate, and compressed
    lines = [msgspec.json.decode(line) for data in files.values() for line in data.splitlines()]
    load = {(r["thread_no"], r["seq"]) for r in lines if "thread_no" in r}
    assert load == {(t, i) for t in range(4) for i in range(3000)}
    assert sum(1 for r in lines if "thread_no" in r) == 4 * 3000  # none twice either


def test_each_line_is_one_flat_json_object(written):
    directory, _ = written
    lines = [msgspec.json.decode(line) for data in every_file(directory).values() for line in data.splitlines()]
    sample = next(r for r in lines if r.get("seq") == 7 and r.get("thread_no") == 2)
    assert set(sample) == {"ts", "level", "actor", "trace_id", "span_id", "message", "thread_no", "seq"}
    assert sample["actor"] == "/load/2" and sample["level"] == "INFO" and sample["message"] == "load line 7 of thread 2"
    when = datetime.datetime.strptime(sample["ts"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert abs((when - datetime.datetime.now(datetime.UTC).replace(tzinfo=None)).total_seconds()) < 600
    failed = next(r for r in lines if r["message"] == "alert channel failed")
    assert failed["level"] == "ERROR" and failed["trace_id"] == "ab" * 16
    assert failed["exception"]["type"] == "ConnectionError"
    assert "Traceback (most recent call last)" in failed["exception"]["traceback"]
    stdlib = next(r for r in lines if r["actor"] == "web3.providers")
    assert stdlib["level"] == "WARNING" and "timed out" in stdlib["message"]


def test_no_secret_reaches_any_byte_of_any_sink(written, tmp_path):
    directory, terminal = written
    json_terminal = run_writer(tmp_path, n=10, threads=1, terminal_format="json")
    everything = every_file(directory, logs_only=False)
    assert any(name.startswith("audit/") for name in everything)  # the audit trail was written too
    written_bytes = [*everything.values(), *every_file(tmp_path, logs_only=False).values(), terminal.encode(),
                     json_terminal.encode()]
    for data in written_bytes:
        for secret in SECRETS:
            assert secret.encode() not in data, f"{secret[:12]}... leaked"
    assert "connecting to https://***@rpc.example.com" in terminal  # masked, yet still says where it went
    for what in ("config: config error", "rpc failed", "console answered", "span kept"):
        assert what in terminal  # each path was taken
    terminal_records = [msgspec.json.decode(line) for line in json_terminal.splitlines()]  # LOG_FORMAT=json
    assert {"ts", "level", "actor", "message"} <= set(terminal_records[-1]) and len(terminal_records) > 10


@pytest.mark.parametrize("setting", ["LOG_DIR", "AUDIT_DIR"])
def test_an_unwritable_log_dir_or_audit_dir_stops_the_bot_at_start_with_one_line(tmp_path, setting):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    env = {"PATH": "/usr/bin:/bin", "DATA_DIR": str(tmp_path / "data"), setting: str(blocker / "sub")}
    done = subprocess.run([sys.executable, str(REPO / "run.py")], cwd=REPO, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("config error:") and "not writable" in lines[0], done.stderr
    assert setting == "AUDIT_DIR" or lines[0].startswith("config error: LOG_DIR=")
