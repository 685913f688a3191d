"""Child processes of the risk tests (racers, a book driver, redis-server): the Python ones start
from the repo root the same way, and every one is reaped the same way, even when a test fails."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]


def python_module(module: str, *args: str, **popen: Any) -> subprocess.Popen[str]:
    """`python -m module args...` in text mode with the repo importable; popen picks the pipes."""
    return subprocess.Popen(
        [sys.executable, "-m", module, *args],
        cwd=REPO, text=True, env={**os.environ, "PYTHONPATH": str(REPO)}, **popen,
    )


def reap(proc: subprocess.Popen[str]) -> None:
    """Kill it (harmless when it already exited), wait for it and close its pipes."""
    proc.kill()
    proc.wait(timeout=10)
    for stream in (proc.stdin, proc.stdout, proc.stderr):
        if stream is not None:
            stream.close()
