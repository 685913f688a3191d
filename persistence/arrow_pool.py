"""Arrow's buffers in the system allocator, unless the operator chose a pool (ARROW_DEFAULT_MEMORY_POOL).

pyarrow's Linux wheels allocate from a bundled mimalloc, which reserves a 1 GiB arena and keeps the
pages of freed buffers resident. The devnet's history recorder reads and rewrites the growing history
every 30 s (persistence.ingest_store), and that arena's resident pages grew all along: in 12-minute
soaks (benchmarks/bench_soak.py) the bot's RSS grew 7.4 MB a minute after the first five minutes with
mimalloc, 2.1 with the system allocator, whose large freed buffers (mmapped) go back to the OS at once.

Arrow's C++ side (the Parquet reader and writer among it) picks its default pool from the variable
once, when pyarrow is first imported; `pyarrow.set_memory_pool` later changes only the pool Python
calls default to. So the variable is set here, on the import of the persistence package, which every
module of ours that imports pyarrow belongs to (`make lint` checks that no other does).
"""

from __future__ import annotations

import os
import sys

ENV = "ARROW_DEFAULT_MEMORY_POOL"
POOL = "system"


def configure() -> None:
    """Choose the system pool for this process unless ENV is set; if pyarrow is imported already (too late
    for its C++ side), at least its Python default."""
    if os.environ.get(ENV):
        return
    os.environ[ENV] = POOL
    if "pyarrow" in sys.modules:
        import pyarrow as pa

        pa.set_memory_pool(pa.system_memory_pool())
