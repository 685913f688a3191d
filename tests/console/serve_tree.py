"""Run the test tree with its console until stdin closes: `python -m tests.console.serve_tree DATA_DIR`.

Prints `READY <port>` once the console is listening.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path

from persistence import audit_trail
from supervision import start_tree, stop_tree
from tests.console.tree_app import tree_spec


def main(data_dir: str) -> int:
    release = threading.Event()
    audit_trail.install(audit_trail.AuditTrail(Path(data_dir) / "audit"))  # `kill` is audited
    start_tree(tree_spec(data_dir, release=release))
    port = json.loads((Path(data_dir) / "console.json").read_text())["port"]
    print(f"READY {port}", flush=True)
    try:
        sys.stdin.read()  # until the test closes our stdin
    except KeyboardInterrupt:
        pass
    finally:
        release.set()
        stop_tree(10.0)
    print("STOPPED", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
