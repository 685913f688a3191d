"""Fixtures for the risk tests: a real redis-server on a free loopback port."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from collections.abc import Iterator

import pytest
import redis

from tests.risk.children import reap

REDIS_SERVER = shutil.which("redis-server")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path) -> Iterator[str]:
    """A throwaway redis-server (no persistence) for one test; stopped even when the test fails."""
    if REDIS_SERVER is None:
        if os.environ.get("CI"):  # CI installs it through `make setup`: its absence there is a failure, not a skip
            pytest.fail("redis-server is not installed although `make setup` should have installed it")
        pytest.skip("redis-server is not installed (make setup installs it)")
    for _attempt in range(3):  # a port taken between probing and binding: try another
        port = free_port()
        proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(tmp_path)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        try:
            assert proc.stdout is not None
            for line in proc.stdout:  # redis logs this line once it accepts connections
                if "Ready to accept connections" in line:
                    break
            else:
                continue
            url = f"redis://127.0.0.1:{port}/0"
            redis.Redis.from_url(url).ping()
            yield url
            return
        finally:
            reap(proc)
    pytest.fail("redis-server did not start on a free port in 3 attempts")

