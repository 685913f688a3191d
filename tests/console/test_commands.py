"""The built-in commands against a real supervised tree in this process (no sockets)."""

from __future__ import annotations

from supervision import Handle
from tests.console.conftest import LiveTree
from tests.console.tree_app import Ping, Stall

WAIT_S = 10.0
PATHS = ["/", "/worker", "/network", "/network/rpc:primary", "/staller", "/console"]


def rows_by_path(live: LiveTree) -> dict[str, dict[str, object]]:
    answer = live.registry.run(["tree"])
    assert answer.ok and answer.kind == "table", answer
    columns = answer.body["columns"]
    return {row[0]: dict(zip(columns, row)) for row in answer.body["rows"]}


def test_tree_shows_every_actor_with_its_kind_state_and_breaker(live_tree: LiveTree) -> None:
    rows = rows_by_path(live_tree)
    assert list(rows) == PATHS
    assert rows["/network"]["KIND"] == "Supervisor" and rows["/console"]["KIND"] == "ConsoleActor"
    assert all(r["STATE"] == "running" and r["RESTARTS"] == "0/0" for r in rows.values())
    assert rows["/network/rpc:primary"]["BREAKER"] == "HALF_OPEN" and rows["/worker"]["BREAKER"] is None
    assert live_tree.registry.run(["tree", "--watch"]).ok  # the server ignores --watch: the client loops


def test_a_stuck_actor_shows_its_queue(live_tree: LiveTree) -> None:
    staller = Handle("/staller")
    staller.tell(Stall())
    assert live_tree.stalled.wait(WAIT_S)
    staller.tell(Ping())
    staller.tell(Ping())
    row = rows_by_path(live_tree)["/staller"]
    assert row["MAILBOX"] == 2 and row["OLDEST"] is not None
    live_tree.release.set()
    assert staller.ask(Ping(), timeout=WAIT_S) == "pong"


def test_inspect_shows_the_record_and_the_published_snapshot(live_tree: LiveTree) -> None:
    answer = live_tree.registry.run(["inspect", "/network/rpc:primary"])
    assert answer.ok and answer.kind == "data"
    assert answer.body["breaker"] == "HALF_OPEN" and answer.body["kind"] == "Worker"
    assert answer.body["snapshot"] == {"incarnation": 1, "note": "published snapshot"}
    missing = live_tree.registry.run(["inspect", "/nobody"])
    assert not missing.ok and missing.error == "no actor at '/nobody'; `tree` lists the paths"


def test_kill_crashes_the_actor_and_its_supervisor_restarts_it(live_tree: LiveTree) -> None:
    assert live_tree.starts.get(timeout=WAIT_S) == 1
    answer = live_tree.registry.run(["kill", "/worker", "operator", "test"])
    assert answer.ok and "crash injected into /worker (operator test)" in answer.body
    assert live_tree.starts.get(timeout=WAIT_S) == 2  # the second incarnation started
    assert Handle("/worker").ask(Ping(), timeout=WAIT_S, wait_s=WAIT_S) == "pong"  # bound after on_start
    row = rows_by_path(live_tree)["/worker"]
    assert row["RESTARTS"] == "1/1" and "operator test" in str(row["LAST ERROR"])
    assert not live_tree.registry.run(["kill", "/nobody"]).ok


def test_the_console_actor_reports_its_server(live_tree: LiveTree) -> None:
    answer = live_tree.registry.run(["inspect", "/console"])
    assert answer.ok
    extra = answer.body["extra"]
    assert isinstance(extra["port"], int) and extra["refused"] == 0
    assert (live_tree.data_dir / "console.token").exists()
