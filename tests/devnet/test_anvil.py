"""anvil starts where asked, answers, fails with one clear line, and never outlives its owner."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from eth_account import Account
from web3.types import Wei

from devnet.accounts import DEV_ACCOUNTS, DEVNET_MNEMONIC
from devnet.anvil import (
    Anvil,
    AnvilError,
    AnvilNotFound,
    AnvilPortBusy,
    AnvilStartFailed,
    resolve_anvil_binary,
)
from tests.devnet.conftest import anvil_children
from tests.waiting import wait_until

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.anvil


def wait_gone(pid: int, timeout_s: float) -> bool:
    """True once `pid` has exited (a zombie counts: it no longer runs), within a bounded wait."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            proc = psutil.Process(pid)
            if proc.status() == psutil.STATUS_ZOMBIE:
                return True
            proc.wait(timeout=0.1)  # bounded: returns when it exits, raises TimeoutExpired otherwise
            return True
        except psutil.NoSuchProcess:
            return True
        except psutil.TimeoutExpired:
            continue
    return False


def test_starts_on_a_free_port_with_the_requested_chain_id(no_leaked_anvil):
    with Anvil(chain_id=4242, block_time_s=None) as node:
        w3 = node.web3()
        assert node.port > 0
        assert node.http_url == f"http://127.0.0.1:{node.port}"
        assert node.ws_url == f"ws://127.0.0.1:{node.port}"
        assert w3.eth.chain_id == 4242
        assert [a.lower() for a in w3.eth.accounts] == [a.address.lower() for a in node.accounts]
        pid = node.pid
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_dev_keys_are_the_public_mnemonic_keys():
    Account.enable_unaudited_hdwallet_features()
    for account in DEV_ACCOUNTS:
        assert Account.from_key(account.key).address == account.address
        derived = Account.from_mnemonic(DEVNET_MNEMONIC, account_path=f"m/44'/60'/0'/0/{account.index}")
        assert derived.address == account.address
    assert DEV_ACCOUNTS[0].key not in repr(DEV_ACCOUNTS[0])


def test_automine_mines_a_block_per_transaction(no_leaked_anvil):
    with Anvil(block_time_s=None) as node:
        w3 = node.web3()
        before = w3.eth.block_number
        tx = w3.eth.send_transaction({"from": DEV_ACCOUNTS[5].address, "to": DEV_ACCOUNTS[6].address, "value": Wei(1)})
        # anvil answers the send once the transaction is pooled, which can be before its block is sealed
        receipt = w3.eth.wait_for_transaction_receipt(tx, timeout=10, poll_latency=0.005)
        assert receipt["blockNumber"] == before + 1


def test_interval_mining_makes_blocks_without_transactions(no_leaked_anvil):
    with Anvil(block_time_s=0.2) as node:
        w3 = node.web3()
        first = w3.eth.block_number
        wait_until(lambda: w3.eth.block_number, 15, f"two blocks after {first}", until=lambda n: n >= first + 2)
        assert w3.eth.block_number >= first + 2
        assert node.rpc("anvil_getAutomine") is False


def test_missing_binary_is_a_one_line_error_naming_the_fix(tmp_path, no_leaked_anvil):
    with pytest.raises(AnvilNotFound) as err:
        resolve_anvil_binary(repo_root=tmp_path)
    message = str(err.value)
    assert "\n" not in message
    assert str(tmp_path) in message and "make setup" in message

    with pytest.raises(AnvilNotFound) as err2:
        Anvil(binary=tmp_path / "no-such-anvil")
    assert "\n" not in str(err2.value) and "no-such-anvil" in str(err2.value)


def test_busy_port_is_a_one_line_error_and_leaves_nothing_running(no_leaked_anvil):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    busy = holder.getsockname()[1]
    try:
        with pytest.raises(AnvilPortBusy) as err:
            Anvil(port=busy).start()
    finally:
        holder.close()
    message = str(err.value)
    assert "\n" not in message
    assert f"127.0.0.1:{busy}" in message and "already in use" in message
    assert anvil_children() == []


def test_anvil_refusing_its_arguments_is_a_one_line_error_with_its_reason(no_leaked_anvil):
    with pytest.raises(AnvilStartFailed) as err:
        Anvil(extra_args=["--hardfork", "nonsense"]).start()
    assert "\n" not in str(err.value) and "nonsense" in str(err.value)


def test_exception_inside_the_block_stops_the_node(no_leaked_anvil):
    with pytest.raises(RuntimeError, match="boom"), Anvil(block_time_s=None) as node:
        pid = node.pid
        raise RuntimeError("boom")
    assert wait_gone(pid, 10)
    node.stop()  # idempotent


def test_a_node_started_from_a_short_lived_thread_outlives_the_thread(no_leaked_anvil):
    # PR_SET_PDEATHSIG fires when the forking *thread* ends; actor threads come and go.
    started: list[Anvil] = []
    worker = threading.Thread(target=lambda: started.append(Anvil(block_time_s=None).start()))
    worker.start()
    worker.join(timeout=30)
    assert started, "the thread did not start anvil"
    node = started[0]
    try:
        assert node.web3().eth.chain_id == 31337
        assert node.running
    finally:
        node.stop()


OWNER_SCRIPT = textwrap.dedent(
    """
    import sys
    from devnet.anvil import Anvil
    node = Anvil(block_time_s=None).start()
    if sys.argv[1] == "exit":
        print(node.pid, flush=True)
        sys.stdin.readline()  # wait for the go
        sys.exit(0)           # no `with`, no stop(): only the atexit hook can clean up
    with node:
        print(node.pid, flush=True)
        sys.stdin.readline()  # wait here to be signalled
    """
)


@contextlib.contextmanager
def _owner_of_anvil(mode: str) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """A child Python process that started an anvil (OWNER_SCRIPT in `mode`), and that anvil's pid.

    Both are killed afterwards whatever the test did, so a failing test leaks neither.
    """
    owner = subprocess.Popen(
        [sys.executable, "-c", OWNER_SCRIPT, mode],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    anvil_pid: int | None = None
    try:
        assert owner.stdout is not None
        line = owner.stdout.readline()  # blocks until anvil is up or the owner died
        assert line.strip().isdigit(), f"owner did not report an anvil pid (got {line!r})"
        anvil_pid = int(line)
        assert psutil.Process(anvil_pid).name() == "anvil"
        yield owner, anvil_pid
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait(timeout=10)
        if anvil_pid is not None and not wait_gone(anvil_pid, 0.5):
            with contextlib.suppress(psutil.NoSuchProcess):
                psutil.Process(anvil_pid).kill()


def _assert_both_running(owner: subprocess.Popen[str], anvil_pid: int) -> None:
    """The owner is waiting on stdin and its anvil runs: only the signal can end them."""
    assert owner.poll() is None
    assert psutil.Process(anvil_pid).status() != psutil.STATUS_ZOMBIE


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_anvil_dies_with_its_owner_process(sig):
    with _owner_of_anvil("wait") as (owner, anvil_pid):
        _assert_both_running(owner, anvil_pid)
        owner.send_signal(sig)
        owner.wait(timeout=10)
        assert wait_gone(anvil_pid, 10), f"anvil {anvil_pid} survived its owner's {sig.name}"


def test_ctrl_c_in_the_owner_stops_anvil():
    with _owner_of_anvil("wait") as (owner, anvil_pid):
        _assert_both_running(owner, anvil_pid)
        owner.send_signal(signal.SIGINT)
        owner.wait(timeout=15)
        assert wait_gone(anvil_pid, 10)


def test_normal_exit_without_stop_still_stops_anvil():
    with _owner_of_anvil("exit") as (owner, anvil_pid):
        _assert_both_running(owner, anvil_pid)
        assert owner.stdin is not None
        owner.stdin.write("go\n")
        owner.stdin.flush()
        assert owner.wait(timeout=15) == 0
        assert wait_gone(anvil_pid, 10)


def test_isolated_undoes_the_chain_changes_and_a_used_mark_is_refused_by_name():
    with Anvil(block_time_s=None) as node:
        start = node.web3().eth.block_number
        with node.isolated():
            node.mine(3)
            assert node.web3().eth.block_number == start + 3
        assert node.web3().eth.block_number == start
        mark = node.snapshot()
        node.revert(mark)
        with pytest.raises(AnvilError, match=f"evm_revert\\({mark}\\) refused"):
            node.revert(mark)
