"""The console server as a supervised actor: it starts the server on start and stops it on exit.

Its child spec: `ChildSpec(id="console", start=ConsoleActor, kwargs={"data_dir": cfg.storage.data_dir,
"port": cfg.console.port})`. Commands come from the process-wide registry unless one is given;
the built-in ones (tree, inspect, kill, help, quit) are added to it here.
"""

from __future__ import annotations

from typing import Any

from console.commands import register_builtin_commands
from console.registry import COMMANDS, CommandRegistry
from console.server import ConsoleServer
from supervision.actor import ActorContext, SupervisedActor


class ConsoleActor(SupervisedActor):
    def __init__(
        self, ctx: ActorContext, *, data_dir: str, port: int = 0, registry: CommandRegistry | None = None
    ) -> None:
        super().__init__(ctx)
        self.registry = registry if registry is not None else COMMANDS
        register_builtin_commands(self.registry)
        self.server = ConsoleServer(data_dir, registry=self.registry, port=port)

    def on_start(self) -> None:
        self.server.start()  # a bind failure crashes the start: the supervisor sees it and retries

    def on_terminate(self) -> None:
        self.server.stop()

    def status(self) -> dict[str, Any]:
        return {
            "port": self.server.port,
            "connections": self.server.connections,
            "requests": self.server.requests_served,
            "refused": self.server.refused,
        }
