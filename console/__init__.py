"""The debug console: a loopback-only, token-authenticated command server and its REPL client.

Other parts add commands with `register_command(name, argparse parser, handler)`.
"""

from console.registry import COMMANDS, CommandError, CommandRegistry, register_command
from console.wire import Table

__all__ = ["COMMANDS", "CommandError", "CommandRegistry", "Table", "register_command"]
