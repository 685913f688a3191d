"""Debian's real Prometheus scrapes the running bot and answers for an `arbiter_` series.

The server is started from the repository's example scrape config (deploy/prometheus.yml) with only
its target's port and its scrape interval changed, on loopback, with a temporary storage directory;
it is stopped (and waited for) however the test ends.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.error
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.app.conftest import REPO
from tests.metrics.conftest import RunningBot, free_port, get
from tests.metrics.test_dashboard import dashboard_queries
from tests.waiting import wait_until

EXAMPLE = REPO / "deploy" / "prometheus.yml"
EXAMPLE_TARGET = '"127.0.0.1:9464"'
EXAMPLE_INTERVAL = "scrape_interval: 15s"
PROMETHEUS = shutil.which("prometheus")
PROMTOOL = shutil.which("promtool")

pytestmark = pytest.mark.skipif(PROMETHEUS is None, reason="Debian's prometheus is not installed "
                                "(`make system-packages` installs it)")


def scrape_config(metrics_port: int) -> str:
    """The example config aimed at `metrics_port`, scraped every second; fails if the example changed shape."""
    text = EXAMPLE.read_text()
    assert text.count(EXAMPLE_TARGET) == 1 and text.count(EXAMPLE_INTERVAL) == 1, \
        f"{EXAMPLE} no longer has one target {EXAMPLE_TARGET} and one `{EXAMPLE_INTERVAL}`: update this test with it"
    return (text.replace(EXAMPLE_TARGET, f'"127.0.0.1:{metrics_port}"')
                .replace(EXAMPLE_INTERVAL, "scrape_interval: 1s"))


def test_the_example_config_is_valid() -> None:
    assert PROMTOOL is not None, "promtool comes with Debian's prometheus package"
    checked = subprocess.run([PROMTOOL, "check", "config", str(EXAMPLE)], capture_output=True, text=True, timeout=30)
    assert checked.returncode == 0, checked.stdout + checked.stderr


class Prometheus:
    def __init__(self, port: int) -> None:
        self.url = f"http://127.0.0.1:{port}"

    def ready(self) -> bool:
        try:
            get(f"{self.url}/-/ready", timeout_s=2.0)
        except OSError:
            return False
        return True

    def query(self, promql: str) -> list[dict[str, object]]:
        """An instant query through the HTTP API: its result vector."""
        try:
            answer = json.loads(get(f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})))
        except urllib.error.HTTPError as refused:  # 400 for a query that does not parse
            raise AssertionError(f"{promql!r}: {refused.read().decode()}") from refused
        assert answer["status"] == "success", answer
        return list(answer["data"]["result"])


@pytest.fixture
def prometheus(running_bot: RunningBot, tmp_path: Path) -> Iterator[Prometheus]:
    assert PROMETHEUS is not None
    config = tmp_path / "prometheus.yml"
    config.write_text(scrape_config(running_bot.metrics_port))
    port = free_port()
    log = tmp_path / "prometheus.log"  # a file, not a pipe: a full pipe would stall the server
    with log.open("w") as log_file:
        proc = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True,
        )
    server = Prometheus(port)
    try:
        wait_until(lambda: proc.poll() is not None or server.ready(), timeout=30, what="prometheus ready")
        if proc.poll() is not None:
            raise AssertionError(f"prometheus exited with {proc.returncode}:\n{log.read_text()}")
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode is not None  # no server left behind


@pytest.mark.anvil
def test_prometheus_scrapes_the_bot_and_answers_for_arbiter_series(prometheus: Prometheus,
                                                                   running_bot: RunningBot) -> None:
    up = wait_until(lambda: prometheus.query('up{job="arbiter"} == 1'), timeout=15, what="a successful scrape")
    assert up[0]["metric"]["instance"] == f"127.0.0.1:{running_bot.metrics_port}"  # type: ignore[index]
    series = wait_until(lambda: prometheus.query('arbiter_rpc_requests_total{job="arbiter"} > 0'), timeout=15,
                        what="the bot's RPC request counts in Prometheus")
    endpoints = {s["metric"]["endpoint"] for s in series}  # type: ignore[index]
    assert endpoints <= {"primary", "secondary", "tertiary"} and endpoints
    # what Prometheus stored is what the bot served: never more than the bot's count now
    served = running_bot.scrape()
    for s in series:
        endpoint, stored = s["metric"]["endpoint"], float(s["value"][1])  # type: ignore[index]
        line = next(line for line in served.splitlines()
                    if line.startswith(f'arbiter_rpc_requests_total{{endpoint="{endpoint}"}}'))
        assert 0 < stored <= float(line.rsplit(" ", 1)[1])
    # every query of the Grafana dashboard parses and runs on the real server
    for _title, expr in dashboard_queries():
        prometheus.query(expr)  # raises with the query and Prometheus's error if it does not parse
