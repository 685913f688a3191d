"""The status page as a supervised actor: it starts the server on start and stops it on exit.

Its child spec (bot.tree.status_page_spec, when STATUS_PAGE=true): `ChildSpec(id="status-page",
start=StatusPageActor, kwargs={"data_dir": ..., "host": ..., "port": ..., "allow_remote": ...})`. The estop
button runs the console's `estop` command, so it uses the process-wide console registry unless given one.
"""

from __future__ import annotations

from typing import Any

from console.registry import CommandRegistry
from statuspage.server import StatusPageServer
from supervision.actor import ActorContext, SupervisedActor


class StatusPageActor(SupervisedActor):
    def __init__(
        self, ctx: ActorContext, *, data_dir: str, host: str = "127.0.0.1", port: int = 0, allow_remote: bool = False,
        registry: CommandRegistry | None = None,
    ) -> None:
        super().__init__(ctx)
        self.server = StatusPageServer(data_dir, host=host, port=port, allow_remote=allow_remote, registry=registry)

    def on_start(self) -> None:
        self.server.start()  # a bind failure crashes the start: the supervisor sees it and retries

    def on_terminate(self) -> None:
        self.server.stop()

    def status(self) -> dict[str, Any]:
        return self.server.status()
