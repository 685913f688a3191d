"""The status page end to end: the real bot on its devnet (`python run.py`, STATUS_PAGE=true) and Debian's
headless chromium driven by Playwright. The page is refused without the console's token; with it, the
tree shows an actor killed through the console come back, a trade appears with its trace, the event
stream survives the page's own restart, and the stop button (with a reason typed in the prompt) stops
trading: the risk book, the audit trail and the executor agree, and nothing is sent after.

One bot serves the module's tests (starting one costs a minute on a loaded machine); the stop test is
last in the file because it stops trading. Every wait is on a page or bot condition with a timeout.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest

from console.client import ConsoleClient
from persistence.audit_trail import read_records
from tests.app.conftest import MARKER_VAR, BotRun, leftovers
from tests.waiting import wait_until

playwright_sync = pytest.importorskip("playwright.sync_api")
# the first test also starts the bot and chromium; the waits below are the real hang guards
pytestmark = pytest.mark.timeout(600)

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
#: Hang guards (ms for Playwright), generous: two shared cores, seven other test runs.
START_S = 180.0
PAGE_MS = 90_000
TRADE_MS = 150_000
SIMULATOR = "/devnet/market-simulator"
REASON = "drill from the status page: pool drained"


@dataclass
class RunningBot:
    run: BotRun
    proc: Any
    base: str  # http://127.0.0.1:PORT
    node: str  # the devnet's anvil

    @property
    def token(self) -> str:
        return (self.run.data_dir / "console.token").read_text().strip()

    def console(self, *argv: str) -> Any:
        client = ConsoleClient(self.run.data_dir)
        try:
            client.connect()
            answer = client.call(list(argv))
        finally:
            client.close()
        assert answer.ok, answer.error
        return answer.body

    def audit(self) -> list[Any]:
        return list(read_records(self.run.data_dir / "audit"))


@pytest.fixture(scope="module")
def bot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningBot]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed although `make setup` should have installed it")
        pytest.skip("chromium is not installed (make setup installs it)")
    data_dir = tmp_path_factory.mktemp("page") / "var"
    marker = uuid.uuid4().hex
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RPC_URL", "WS_URL", "ARBITER_"))}
    env.update({MARKER_VAR: marker, "DATA_DIR": str(data_dir), "PYTHONUNBUFFERED": "1",
                "STATUS_PAGE": "true", "STATUS_PAGE_PORT": "0"})
    run = BotRun(marker=marker, data_dir=data_dir, env=env)
    anvil_port = _free_port()  # known, so the test can ask the chain itself what was sent
    proc = run.start("--anvil-port", str(anvil_port))  # its output goes to a file (see BotRun)
    try:
        run.wait_console(proc, START_S)
        endpoint = data_dir / "status-page.json"
        wait_until(lambda: endpoint.exists() or proc.poll() is not None, START_S, "the status page to come up")
        assert proc.poll() is None, run.output(proc)[-5000:]
        port = json.loads(endpoint.read_text())["port"]
        yield RunningBot(run, proc, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{anvil_port}")
    finally:
        if proc.poll() is None:
            run.interrupt(proc, 30.0)
        for left in leftovers(marker):
            try:
                left.send_signal(signal.SIGKILL)
            except psutil.NoSuchProcess:
                pass


@pytest.fixture(scope="module")
def browser(bot: RunningBot) -> Iterator[Any]:
    with playwright_sync.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def page(bot: RunningBot, browser: Any) -> Iterator[Any]:
    """One page open on the status page for the module, as an operator would keep it."""
    context = browser.new_context()
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.set_default_timeout(PAGE_MS)
    response = page.goto(f"{bot.base}/?token={bot.token}")
    assert response is not None and response.status == 200
    assert page.url == f"{bot.base}/"  # the token left the address bar
    yield page
    context.close()
    assert errors == [], errors


def _views(page: Any) -> int:
    return int(page.locator("#views").get_attribute("data-count") or 0)


def _http_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as refused:
        return int(refused.code)


def test_the_page_is_refused_without_the_consoles_token(bot: RunningBot, browser: Any) -> None:
    context = browser.new_context()
    try:
        stranger = context.new_page()
        for url in (f"{bot.base}/", f"{bot.base}/?token=not-the-token"):
            response = stranger.goto(url)
            assert response is not None and response.status == 401
            assert "unauthorized" in stranger.content()
    finally:
        context.close()
    assert _http_status(f"{bot.base}/events") == 401
    assert _http_status(f"{bot.base}/api/view") == 401
    request = urllib.request.Request(f"{bot.base}/api/estop", data=b'{"reason": "x"}', method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        urllib.request.urlopen(request, timeout=30)
        raise AssertionError("an estop without the token was accepted")
    except urllib.error.HTTPError as refused:
        assert refused.code == 401
    assert bot.console("risk")["emergency_stop"]["active"] is False


def test_the_page_loads_and_shows_a_killed_actor_come_back(bot: RunningBot, page: Any) -> None:
    page.wait_for_selector('#conn[data-state="live"]')
    page.wait_for_selector(f'#tree tr[data-path="{SIMULATOR}"][data-restarts="0"]')
    page.wait_for_selector('#endpoints tr[data-endpoint="primary"]')
    page.wait_for_selector('#slos tr[data-slo="rpcLatency"]')
    assert page.locator("#stop-state").get_attribute("data-active") == "false"

    bot.console("kill", SIMULATOR, "killed", "from", "the", "page", "test")
    row = page.wait_for_selector(f'#tree tr[data-path="{SIMULATOR}"][data-restarts="1"][data-state="running"]')
    assert row is not None and "InjectedCrash" in row.inner_text()


def test_a_trade_appears_with_a_link_to_its_trace(page: Any) -> None:
    page.wait_for_selector('#trades tr[data-stage="mined"]', timeout=TRADE_MS)
    page.wait_for_selector('svg#pnl-chart:not([data-points="0"]):not([data-points="1"])')
    trade_id = page.locator('#trades tr[data-stage="mined"] a.trace-link').first.get_attribute("data-trace")
    page.locator(f'#trades a.trace-link[data-trace="{trade_id}"]').click()  # rows are redrawn at each view
    page.wait_for_selector(f'#trace-panel.shown[data-trace="{trade_id}"] #trace tr[data-stage="included"]')
    stages = page.locator("#trace tbody tr").evaluate_all("rows => rows.map(r => r.dataset.stage)")
    # the root span (the whole lifecycle) first, then the stages, as the console's `trace ID` shows them
    assert stages[:2] == ["opportunity", "detected"] and "sent" in stages and stages[-1] == "included"


def test_the_event_stream_survives_the_pages_own_restart(bot: RunningBot, page: Any) -> None:
    page.wait_for_selector('#conn[data-state="live"]')
    bot.console("kill", "/status-page", "the", "reconnect", "test")
    restarted = wait_until(lambda: bot.console("inspect", "/status-page"), START_S, "the page's actor restarted",
                           until=lambda info: info["restarts_total"] == 1 and info["state"] == "running")
    assert f"http://127.0.0.1:{restarted['extra']['port']}" == bot.base  # same address: open pages reconnect
    # the browser loses the stream, reconnects to the restarted server and goes on receiving views
    page.wait_for_selector('#conn[data-drops]', state="attached")
    row = page.wait_for_selector('#tree tr[data-path="/status-page"][data-restarts="1"][data-state="running"]')
    assert row is not None
    page.wait_for_selector('#conn[data-state="live"]')
    before = _views(page)
    page.wait_for_function(f"() => Number(document.getElementById('views').dataset.count) > {before}")


def test_the_stop_button_stops_trading(bot: RunningBot, page: Any) -> None:
    page.wait_for_selector('#stop-state[data-active="false"]')
    wait_until(lambda: any(r.kind == "trade_submitted" for r in bot.audit()), TRADE_MS / 1000,
               "the bot trading before the stop")
    prompts: list[str] = []

    def answer(dialog: Any) -> None:
        prompts.append(dialog.message)
        dialog.accept(REASON)

    page.once("dialog", answer)
    page.click("#estop")
    shown = page.wait_for_selector('#stop-state[data-active="true"]')
    assert shown is not None and REASON in shown.inner_text()
    assert prompts and "why" in prompts[0]
    assert page.locator("#estop").is_disabled()

    report = bot.console("risk")
    assert report["emergency_stop"]["active"] is True and report["emergency_stop"]["reason"] == REASON
    assert report["emergency_stop"]["by"].startswith("status-page@")
    records = bot.audit()
    command = [r for r in records if r.kind == "console_command" and r.body["command"] == "estop"]
    assert len(command) == 1 and command[0].body["ok"] is True and REASON in command[0].body["argv"]
    stops = [r for r in records if r.kind == "emergency_stop_triggered"]
    assert len(stops) == 1 and stops[0].body["reason"] == REASON
    stop_seq = stops[0].seq

    # the market goes on: three more blocks seen by the executor, and nothing was sent after the stop
    head = bot.console("inspect", "/market/executor")["snapshot"]["last_head"]
    executor = wait_until(lambda: bot.console("inspect", "/market/executor")["snapshot"], 60.0,
                          "three more blocks after the stop", until=lambda s: s["last_head"] >= head + 3)
    assert REASON in executor["stopped"]
    # A trade signed just before the stop has its submission on record first (write-ahead); the executor then
    # reads the stop once more right before the send and holds it: it ends skipped and never reaches the chain.
    records = bot.audit()
    held = {r.trace_id: r.body["tx_hash"] for r in records if r.kind == "trade_submitted" and r.seq > stop_seq}
    ends = {r.trace_id: r.body["stage"] for r in records if r.kind in ("trade_mined", "trade_failed")}
    assert {trade: ends.get(trade) for trade in held} == {trade: "skipped" for trade in held}
    for tx_hash in held.values():
        assert _rpc(bot.node, "eth_getTransactionByHash", tx_hash) is None, f"{tx_hash} reached the chain"
    # and the chain agrees: the bot's account used no nonce beyond those submitted before the stop
    nonces = [r.body["nonce"] for r in records if r.kind == "trade_submitted" and r.seq < stop_seq]
    assert nonces, "no trade before the stop"
    used = int(_rpc(bot.node, "eth_getTransactionCount", executor["account"], "pending"), 16)
    assert used <= max(nonces) + 1, (used, max(nonces))
    assert page.locator("#stop-state").get_attribute("data-active") == "true"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rpc(url: str, method: str, *params: Any) -> Any:
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}).encode()
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.loads(answer.read())["result"]
