"""The console client: `python run.py console` (a REPL) or `python run.py console CMD ...` (one shot).

It finds the running bot through <data_dir>/console.json and console.token (written by the
server, readable only by the same user), sends each command line with the token, and prints the
answer as a table, JSON or text. `tree --watch` and `perf --watch` redraw every second until Ctrl-C or 'q'.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import shlex
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

import msgspec

from console.render import render
from console.server import ENDPOINT_FILE, TOKEN_FILE
from console.wire import Request, Response, response_decoder

#: A command's answer should come well within this; handlers bound their own asks below it.
CALL_TIMEOUT_S = 30.0
WATCH_PERIOD_S = 1.0
#: After a bot restart the console comes back with a new port and token; wait this long for it.
RECONNECT_WAIT_S = 10.0
RECONNECT_PERIOD_S = 0.1
PROMPT = "arbiter> "
#: Commands that take --watch (redrawn here, every WATCH_PERIOD_S).
WATCHABLE = ("tree", "perf")
CLEAR = "\x1b[H\x1b[2J"


class ConsoleUnavailable(Exception):
    """No running console was found or it refused us; the message says what to check."""


class BotGone(ConsoleUnavailable):
    """The bot process this console was attached to has exited: nothing to reconnect to."""


#: The REPL's watcher looks at an idle connection this often for the bot closing it.
GONE_POLL_S = 0.1


def pid_alive(pid: int) -> bool:
    """True while process `pid` runs (a zombie, exited but not yet reaped, counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive, and not ours to judge
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc here: the kill check is all there is


def default_data_dir() -> str:
    try:
        from protocol.config import load_config

        return load_config().storage.data_dir
    except Exception as exc:  # a broken config must not keep the operator out of a running bot
        print(f"console: configuration not readable ({type(exc).__name__}); using DATA_DIR or var/", file=sys.stderr)
        return os.environ.get("DATA_DIR") or "var"


class ConsoleClient:
    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.data_dir = Path(data_dir)
        self._sock: socket.socket | None = None
        self._file: Any = None
        self._token = ""
        self._next_id = 0
        self.pid: int | None = None  # the bot process of the console we connected to last

    def connect(self) -> None:
        endpoint, token = self.data_dir / ENDPOINT_FILE, self.data_dir / TOKEN_FILE
        try:
            info = json.loads(endpoint.read_text())
            self._token = token.read_text().strip()
        except FileNotFoundError as exc:
            raise ConsoleUnavailable(f"no console found: {exc.filename} is missing (is the bot running with "
                                     f"DATA_DIR={self.data_dir}?)") from None
        except PermissionError as exc:
            raise ConsoleUnavailable(f"cannot read {exc.filename}: run the console as the bot's user") from None
        except (ValueError, OSError) as exc:
            raise ConsoleUnavailable(f"cannot read the console's files in {self.data_dir}: {exc}") from None
        if not isinstance(info, dict) or not isinstance(info.get("port"), int):
            raise ConsoleUnavailable(f"{endpoint} does not name a port; is it the bot's console.json?")
        try:
            self._sock = socket.create_connection((info["host"], int(info["port"])), timeout=CALL_TIMEOUT_S)
        except OSError as exc:
            raise ConsoleUnavailable(f"cannot connect to the console at {info['host']}:{info['port']} ({exc}); "
                                     "the bot may have stopped") from None
        self._file = self._sock.makefile("rwb")
        self.pid = info.get("pid") if isinstance(info.get("pid"), int) else None

    def bot_gone(self) -> bool:
        """True once the bot process we were attached to has exited (a restarting console is not gone)."""
        return self.pid is not None and not pid_alive(self.pid)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self._file is not None:
                self._file.close()
            if self._sock is not None:
                self._sock.close()
        self._sock = self._file = None

    def _stale(self) -> bool:
        """True if the server has closed our connection (a bot restart): checked before sending,
        so a command is never sent twice."""
        if self._sock is None:
            return True
        try:
            readable, _, _ = select.select([self._sock], [], [], 0)
            return bool(readable) and self._sock.recv(1, socket.MSG_PEEK) == b""
        except OSError:
            return True

    def reconnect(self, wait_s: float = RECONNECT_WAIT_S) -> None:
        """Connect again, waiting up to wait_s for a restarting console to write its files anew."""
        self.close()
        deadline = time.monotonic() + wait_s
        gone_pid = self.pid
        while True:
            if gone_pid is not None and not pid_alive(gone_pid):
                raise BotGone(f"the bot (pid {gone_pid}) has stopped; start it again, then the console")
            try:
                self.connect()
                return
            except ConsoleUnavailable:
                if time.monotonic() >= deadline:
                    raise
            threading.Event().wait(RECONNECT_PERIOD_S)

    def idle_closed(self) -> bool:
        """True if the idle connection has been closed by the bot (checked without consuming anything)."""
        return self._sock is not None and self._stale()

    def call(self, argv: list[str]) -> Response:
        """Send one command line and return the answer. A command is sent at most once: if the
        connection drops after sending, the error says the command may or may not have run."""
        if self._file is None or self._stale():
            self.reconnect()
        self._next_id += 1
        line = msgspec.json.encode(Request(token=self._token, argv=argv, id=self._next_id)) + b"\n"
        try:
            self._file.write(line)
            self._file.flush()
            answer = self._file.readline()
        except OSError as exc:
            self.close()
            raise ConsoleUnavailable(f"lost the connection ({exc}); {argv[0]!r} may or may not have run") from None
        if not answer:
            self.close()
            raise ConsoleUnavailable(f"the console closed the connection before answering; {argv[0]!r} may or "
                                     "may not have run")
        response = response_decoder.decode(answer)
        if response.close:
            self.close()
        return response


def _wants_watch(argv: list[str]) -> bool:
    return bool(argv) and argv[0] in WATCHABLE and any(a in ("--watch", "-w") for a in argv[1:])


@contextlib.contextmanager
def _key_reader(stdin: TextIO) -> Iterator[Callable[[float], str | None]]:
    """A function waiting up to t seconds for one key (cbreak mode on a terminal, a line otherwise)."""
    try:
        fd = stdin.fileno()
        is_tty = os.isatty(fd)
    except (AttributeError, OSError, ValueError):
        fd, is_tty = -1, False
    if fd < 0:
        pause = threading.Event()

        def idle(timeout: float) -> str | None:
            pause.wait(timeout)  # nothing to read keys from: just pace the refresh
            return None

        yield idle
        return
    saved = None
    if is_tty:
        import termios
        import tty

        saved = termios.tcgetattr(fd)
        tty.setcbreak(fd)
    eof = threading.Event()

    def read_key(timeout: float) -> str | None:
        if eof.is_set():
            eof.wait(timeout)
            return None
        ready, _, _ = select.select([fd], [], [], timeout)
        if not ready:
            return None
        data = os.read(fd, 1 if is_tty else 1024).decode(errors="replace")
        if not data:
            eof.set()
            return None
        return data.strip()[:1] or None

    try:
        yield read_key
    finally:
        if saved is not None:
            import termios

            termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def watch(client: ConsoleClient, argv: list[str], out: TextIO, stdin: TextIO) -> int:
    """Redraw `argv` (without --watch) every WATCH_PERIOD_S until 'q' or Ctrl-C."""
    argv = [a for a in argv if a not in ("--watch", "-w")]
    try:
        with _key_reader(stdin) as read_key:
            while True:
                started = time.monotonic()
                response = client.call(argv)
                stamp = time.strftime("%H:%M:%S")
                out.write(f"{CLEAR}{' '.join(argv)} at {stamp}; q or Ctrl-C to stop\n{render(response)}\n")
                out.flush()
                remaining = WATCH_PERIOD_S - (time.monotonic() - started)
                key = read_key(max(0.0, remaining))
                if key in ("q", "Q"):
                    return 0
                if key is not None:  # another key: wait out the period, then redraw
                    read_key(max(0.0, WATCH_PERIOD_S - (time.monotonic() - started)))
    except KeyboardInterrupt:
        out.write("\n")
        return 0


def run_line(client: ConsoleClient, argv: list[str], out: TextIO, stdin: TextIO) -> int:
    if _wants_watch(argv):
        return watch(client, argv, out, stdin)
    response = client.call(argv)
    out.write(render(response) + "\n")
    out.flush()
    return 0 if response.ok else 1


def _setup_readline(client: ConsoleClient, history: Path) -> None:
    try:
        import readline
    except ImportError:
        return
    with contextlib.suppress(OSError):
        readline.read_history_file(history)
    names: list[str] = []
    try:
        listing = client.call(["help"])
        if listing.ok and isinstance(listing.body, dict):
            names = [str(row[0]) for row in listing.body.get("rows", [])]
    except Exception as exc:  # completion is a convenience: go on without it, but say why
        print(f"console: no tab completion ({type(exc).__name__}: {exc})", file=sys.stderr)

    def complete(text: str, state: int) -> str | None:
        options = [n for n in names if n.startswith(text)]
        return options[state] if state < len(options) else None

    readline.set_completer(complete)
    readline.parse_and_bind("tab: complete")
    import atexit

    atexit.register(lambda: _save_history(history))


def _save_history(history: Path) -> None:
    try:
        import readline

        readline.set_history_length(1000)
        readline.write_history_file(history)
    except Exception as exc:  # at exit: history is lost, the operator is told
        print(f"console: history not saved to {history} ({type(exc).__name__}: {exc})", file=sys.stderr)


class GoneWatcher:
    """While the REPL waits at its prompt, notice at once that the bot has exited: its end of the connection
    closes (the kernel closes it for a killed process too), the recorded pid is gone, and the prompt is
    interrupted with a real SIGINT so that input() returns. A console that merely restarts is not watched
    for: the next command reconnects to it."""

    def __init__(self, client: ConsoleClient) -> None:
        self.client = client
        self.idle = threading.Event()  # set while the REPL sits at its prompt
        self.gone = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="console-gone-watcher", daemon=True)

    def __enter__(self) -> GoneWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)

    def _run(self) -> None:
        import signal

        while not self._stop.wait(GONE_POLL_S):
            if self.idle.is_set() and self.client.idle_closed() and self.client.bot_gone():
                self.gone.set()
                if self.idle.is_set():
                    os.kill(os.getpid(), signal.SIGINT)
                return


def repl(client: ConsoleClient, out: TextIO, stdin: TextIO) -> int:
    _setup_readline(client, client.data_dir / "console_history")
    out.write("arbiter console: `help` lists the commands, `quit` or Ctrl-D leaves\n")
    with GoneWatcher(client) as watcher:
        return _repl_loop(client, out, stdin, watcher)


def _repl_loop(client: ConsoleClient, out: TextIO, stdin: TextIO, watcher: GoneWatcher) -> int:
    while True:
        if watcher.gone.is_set():
            out.write(f"\nthe bot (pid {client.pid}) has stopped; leaving the console\n")
            return 1
        watcher.idle.set()
        try:
            line = input(PROMPT)
        except EOFError:
            out.write("\n")
            return 0
        except KeyboardInterrupt:
            if not watcher.gone.is_set():
                out.write("\n")
            continue
        finally:
            watcher.idle.clear()
        try:
            argv = shlex.split(line)
        except ValueError as exc:
            out.write(f"error: {exc}\n")
            continue
        if not argv:
            continue
        if argv in (["quit"], ["exit"]):
            try:
                client.call(["quit"])
            except Exception as exc:  # leaving anyway; the bot may already be gone
                out.write(f"(the bot did not acknowledge quit: {type(exc).__name__})\n")
            return 0
        try:
            run_line(client, argv, out, stdin)
        except BotGone as exc:
            out.write(f"error: {exc}\n")
            return 1
        except (ConsoleUnavailable, OSError) as exc:
            out.write(f"error: {exc}\n")
        except KeyboardInterrupt:  # Ctrl-C in a command (or the watcher's, as the bot left): back to the prompt
            out.write("\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="run.py console", description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", help="where the bot wrote console.json and console.token (DATA_DIR)")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="one command to run, e.g. `tree`")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    client = ConsoleClient(args.data_dir or default_data_dir())
    try:
        client.connect()
        if args.command:
            return run_line(client, args.command, sys.stdout, sys.stdin)
        return repl(client, sys.stdout, sys.stdin)
    except ConsoleUnavailable as exc:
        print(f"console: {exc}", file=sys.stderr)
        return 1
    finally:
        client.close()
