"""Start and stop a local anvil node that can never outlive us.

anvil is a 40 MB Rust binary installed by `make setup` from the npm registry. A devnet that
leaks it leaks a port and a CPU, and the next run finds the port busy; so every start is covered
four ways:

- a context manager (and `stop()`), for the normal path and for exceptions;
- an atexit hook, for a Ctrl-C or `sys.exit` that skips the `with` block's owner;
- PR_SET_PDEATHSIG = SIGKILL set in the child between fork and exec, for a parent killed by
  SIGKILL/SIGTERM/OOM where no Python code runs at all;
- its own process group, so a terminal's Ctrl-C does not kill it under a tree still shutting
  down, and so `stop()` reaches anything it spawned.

Linux sends the parent-death signal when the *thread* that forked the child ends, not the process
(prctl(2)). Actor threads come and go, so the fork always happens on one long-lived daemon thread
owned by this module; a node started from a short-lived thread keeps running.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import ctypes
import os
import queue
import re
import signal
import subprocess
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import Any

from web3 import HTTPProvider, Web3

from devnet.accounts import DEV_ACCOUNTS, DevAccount

REPO_ROOT = Path(__file__).resolve().parent.parent
ANVIL_RELATIVE_PATH = Path("node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
ANVIL_ENV_VAR = "ARBITER_ANVIL"  # an explicit binary path wins over the repo's node_modules

DEFAULT_CHAIN_ID = 31337  # anvil's own default; wallets know it as "localhost"
DEFAULT_BLOCK_TIME_S = 1.0  # a block a second: fast enough to watch, slow enough to batch txs into
READY_TIMEOUT_S = 20.0  # bound on "process started" -> "answers eth_chainId" (2 shared cores)
STOP_TIMEOUT_S = 5.0  # SIGTERM grace before SIGKILL (OTP's worker shutdown default)
LOG_TAIL_LINES = 40  # anvil's last output lines kept for error messages
#: Why the blocks come from our own clock (evm_mine on a schedule) and not from anvil's `--block-time`:
#: measured on anvil 1.7.1, its interval miner makes the node's RSS grow about 225 KB a block and
#: faster as it runs (28 -> 330 MB over 1,370 blocks), while the same swaps mined by evm_mine cost
#: about 38 KB a block (30 -> 58 MB over 730): the blocks, transactions, receipts and logs it keeps.
#: On the devnet's 1 s blocks that was the ~13 MB a minute an operator saw.

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
_LISTENING = re.compile(rb"Listening on ([0-9.]+):(\d+)")


class AnvilError(Exception):
    """Base of every devnet node failure; the message is one line an operator can act on."""


class AnvilNotFound(AnvilError):
    def __init__(self, path: Path) -> None:
        super().__init__(
            f"anvil binary not found at {path}: run `make setup` (installs @foundry-rs/anvil from npm) "
            f"or set {ANVIL_ENV_VAR} to an anvil executable"
        )
        self.path = path


class AnvilPortBusy(AnvilError):
    def __init__(self, host: str, port: int) -> None:
        super().__init__(
            f"anvil cannot listen on {host}:{port}: the port is already in use "
            "(stop whatever holds it, or pass port=0 for a free one)"
        )
        self.host = host
        self.port = port


class AnvilStartFailed(AnvilError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"anvil did not start: {reason}")
        self.reason = reason


def resolve_anvil_binary(binary: str | Path | None = None, *, repo_root: Path = REPO_ROOT) -> Path:
    """The anvil executable: `binary` if given, else $ARBITER_ANVIL, else the repo's node_modules copy."""
    if binary is None:
        binary = os.environ.get(ANVIL_ENV_VAR) or repo_root / ANVIL_RELATIVE_PATH
    path = Path(binary)
    if not path.is_file() or not os.access(path, os.X_OK):
        raise AnvilNotFound(path)
    return path


# --- spawning ------------------------------------------------------------------------------------

_libc = ctypes.CDLL(None, use_errno=True)  # loaded before any fork: dlopen is not fork-safe


def _die_with_parent(parent_pid: int) -> None:
    """Runs in the child between fork and exec: ask the kernel for SIGKILL when the parent goes."""
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


class _Spawner:
    """One long-lived daemon thread that performs every fork (see the module docstring)."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def run(self, job: Callable[[], Any]) -> Any:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="anvil-spawner", daemon=True)
                self._thread.start()
        done: Future[Any] = Future()
        self._jobs.put((job, done))
        return done.result()

    def _loop(self) -> None:
        while True:
            job, done = self._jobs.get()
            try:
                done.set_result(job())
            except BaseException as exc:  # handed to the caller, who re-raises it
                done.set_exception(exc)


_spawner = _Spawner()
_live: weakref.WeakSet[Anvil] = weakref.WeakSet()


@atexit.register
def _stop_all_at_exit() -> None:
    for node in list(_live):
        node.stop()


# --- the node ------------------------------------------------------------------------------------


class Anvil:
    """A running anvil on loopback. Use as a context manager; `stop()` is idempotent.

    block_time_s: seconds between blocks (fractions allowed), or None for automine (a block per
    transaction, as tests want); the blocks are mined by a clock thread of ours (see the note at
    LOG_TAIL_LINES), anvil itself runs with `--no-mining`. port: 0 lets anvil pick a free port; a busy
    fixed port raises AnvilPortBusy. quiet: turn anvil's per-call logging off once it is up (log_tail()
    then holds its start-up banner only). history_states: keep the states of only this many recent
    blocks (`--prune-history N`: reads at an older block answer BlockOutOfRangeError; blocks, receipts
    and logs of every block stay); None keeps anvil's default (500 in memory, the rest spilled to disk).
    """

    def __init__(
        self,
        *,
        port: int = 0,
        host: str = "127.0.0.1",
        chain_id: int = DEFAULT_CHAIN_ID,
        block_time_s: float | None = DEFAULT_BLOCK_TIME_S,
        binary: str | Path | None = None,
        extra_args: Sequence[str] = (),
        ready_timeout_s: float = READY_TIMEOUT_S,
        quiet: bool = True,
        history_states: int | None = None,
    ) -> None:
        if block_time_s is not None and block_time_s <= 0:
            raise ValueError(f"block_time_s must be > 0 or None (automine), got {block_time_s}")
        self.binary = resolve_anvil_binary(binary)
        self.host = host
        self.requested_port = port
        self.chain_id = chain_id
        self.block_time_s = block_time_s
        self.extra_args = tuple(extra_args)
        self.ready_timeout_s = ready_timeout_s
        self.quiet = quiet
        if history_states is not None and history_states < 1:
            raise ValueError(f"history_states must be >= 1 or None (anvil's default), got {history_states}")
        self.history_states = history_states
        self.port = 0
        self._clock: threading.Thread | None = None
        self._clock_stop = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None
        self._listening = threading.Event()
        self._tail: collections.deque[str] = collections.deque(maxlen=LOG_TAIL_LINES)
        self._w3: Web3 | None = None

    # -- lifecycle

    def __enter__(self) -> Anvil:
        if self._proc is None:  # `with Anvil().start() as node:` is fine too
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def argv(self) -> list[str]:
        args = [str(self.binary), "--host", self.host, "--port", str(self.requested_port)]
        args += ["--chain-id", str(self.chain_id), "--color", "never"]
        if self.block_time_s is not None:
            args += ["--no-mining"]  # our clock mines (see LOG_TAIL_LINES' note)
        if self.history_states is not None:
            args += ["--prune-history", str(self.history_states)]
        return args + list(self.extra_args)

    def start(self) -> Anvil:
        if self._proc is not None:
            raise AnvilError("this Anvil was already started; create a new one")
        parent = os.getpid()
        self._proc = _spawner.run(
            lambda: subprocess.Popen(
                self.argv(),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                process_group=0,
                preexec_fn=lambda: _die_with_parent(parent),
                close_fds=True,
            )
        )
        _live.add(self)
        self._reader = threading.Thread(target=self._drain, name=f"anvil-log:{self._proc.pid}", daemon=True)
        self._reader.start()
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _drain(self) -> None:
        """Read anvil's output for the whole run: a full pipe would block the node."""
        assert self._proc is not None and self._proc.stdout is not None
        for line in self._proc.stdout:
            if not self._listening.is_set():
                found = _LISTENING.search(line)
                if found:
                    self.port = int(found.group(2))
                    self._listening.set()
            self._tail.append(line.decode(errors="replace").rstrip())
        self._listening.set()  # EOF: the process is gone; wake the starter

    def _wait_ready(self) -> None:
        assert self._proc is not None
        if not self._listening.wait(self.ready_timeout_s):
            raise AnvilStartFailed(f"no 'Listening on' line within {self.ready_timeout_s:g}s")
        if self.port == 0:  # EOF before listening: anvil exited
            code = self._proc.wait(timeout=STOP_TIMEOUT_S)
            if self._reader is not None:
                self._reader.join(timeout=STOP_TIMEOUT_S)
            lines = [ln.strip() for ln in self._tail if ln.strip()]
            last = next((ln for ln in lines if "error" in ln.lower()), lines[-1] if lines else "no output")
            if "Address already in use" in last:
                raise AnvilPortBusy(self.host, self.requested_port)
            raise AnvilStartFailed(f"exited with code {code}: {last}")
        try:
            answered = self.web3().eth.chain_id
        except Exception as exc:
            raise AnvilStartFailed(f"eth_chainId on {self.http_url} failed: {exc}") from None
        if answered != self.chain_id:
            raise AnvilStartFailed(f"eth_chainId answered {answered}, expected {self.chain_id}")
        if self.quiet:  # anvil logs every RPC call and mined block: noise the reader would pay for
            self.rpc("anvil_setLoggingEnabled", False)
        if self.block_time_s is not None:
            self._clock = threading.Thread(target=self._mine_on_schedule, args=(self.block_time_s,),
                                           name=f"anvil-blocks:{self._proc.pid}", daemon=True)
            self._clock.start()

    def _mine_on_schedule(self, period_s: float) -> None:
        """A block every period_s (on a fixed schedule: a slow evm_mine does not push the next one back)."""
        provider = HTTPProvider(self.http_url, request_kwargs={"timeout": 10})  # its own: not shared across threads
        due = time.monotonic() + period_s
        while not self._clock_stop.wait(max(0.0, due - time.monotonic())):
            try:
                provider.make_request("evm_mine", [])  # type: ignore[arg-type]
            except Exception:  # the node is gone (stopped or died): its owner sees that; nothing to mine
                if not self.running:
                    return
            due = max(due + period_s, time.monotonic())

    def stop(self) -> None:
        """SIGTERM the node's process group, SIGKILL it after STOP_TIMEOUT_S; wait for it to be gone."""
        proc = self._proc
        _live.discard(self)
        self._clock_stop.set()
        if self._clock is not None and self._clock is not threading.current_thread():
            self._clock.join(timeout=STOP_TIMEOUT_S)
        if proc is None or proc.returncode is not None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, sig)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
                break
            except subprocess.TimeoutExpired:
                continue
        if self._reader is not None:
            self._reader.join(timeout=STOP_TIMEOUT_S)
        if proc.stdout is not None:
            proc.stdout.close()

    # -- what callers use

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise AnvilError("anvil not started")
        return self._proc.pid

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def http_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    @property
    def accounts(self) -> tuple[DevAccount, ...]:
        """The ten funded dev accounts (public test keys: devnet only)."""
        return DEV_ACCOUNTS

    def log_tail(self) -> list[str]:
        return list(self._tail)

    def web3(self) -> Web3:
        if self._w3 is None:
            self._w3 = Web3(HTTPProvider(self.http_url, request_kwargs={"timeout": 10}))
        return self._w3

    def rpc(self, method: str, *params: Any) -> Any:
        """One JSON-RPC call (anvil_*/evm_* control methods); raises AnvilError on an error answer."""
        answer = self.web3().provider.make_request(method, list(params))  # type: ignore[arg-type]
        if "error" in answer:
            raise AnvilError(f"{method} failed: {answer['error']}")
        return answer.get("result")

    # -- chain state

    def snapshot(self) -> str:
        """Mark the chain state (evm_snapshot); `revert(mark)` returns to it. A mark is single-use."""
        return str(self.rpc("evm_snapshot"))

    def revert(self, mark: str) -> None:
        if not self.rpc("evm_revert", mark):
            raise AnvilError(f"evm_revert({mark}) refused: unknown or already used snapshot")

    @contextlib.contextmanager
    def isolated(self) -> Iterator[Anvil]:
        """Run a block of chain changes and undo them after: one deployed state shared by many tests."""
        mark = self.snapshot()
        try:
            yield self
        finally:
            self.revert(mark)

    # -- mining control

    def set_automine(self, enabled: bool) -> None:
        self.rpc("evm_setAutomine", enabled)

    def mine(self, blocks: int = 1) -> None:
        self.rpc("anvil_mine", hex(blocks))

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"Anvil({self.http_url}, chain_id={self.chain_id}, {state})"
