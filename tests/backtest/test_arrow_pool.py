"""Arrow's buffers go to the system allocator, C++ side included (persistence.arrow_pool), unless the
operator picked a pool: mimalloc's arena kept the devnet recorder's freed Parquet buffers resident."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

#: Parquet written and read back through our store, then: Python's default pool, and how many anonymous
#: mappings of 512 MiB or more the process has (mimalloc reserves its arena as one of 1 GiB).
PROBE = """
import sys, tempfile
import numpy as np
from backtest.synthetic import SyntheticSpec, generate
from {module} import *  # noqa
from persistence.history import load, save
import pyarrow as pa
with tempfile.TemporaryDirectory() as d:
    save(generate(SyntheticSpec(seed=3, days=2.0)), d)
    load(d)
big = 0
for line in open("/proc/self/maps"):
    fields = line.split()
    lo, hi = (int(x, 16) for x in fields[0].split("-"))
    big += hi - lo >= 512 << 20 and len(fields) < 6
print(pa.default_memory_pool().backend_name, big)
"""


def probe(module: str, env_pool: str | None) -> tuple[str, int]:
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    if env_pool is not None:
        env["ARROW_DEFAULT_MEMORY_POOL"] = env_pool
    run = subprocess.run([sys.executable, "-c", PROBE.format(module=module)], env=env, capture_output=True,
                         text=True, timeout=120, check=True, cwd=os.getcwd())
    name, big = run.stdout.split()
    return name, int(big)


@pytest.mark.parametrize("module", ["persistence", "persistence.ingest_store", "devnet.history_recorder"])
def test_parquet_io_allocates_from_the_system_pool_whichever_module_comes_first(module):
    assert probe(module, None) == ("system", 0)


def test_an_operator_s_choice_of_pool_is_kept():
    assert probe("persistence", "mimalloc") == ("mimalloc", 1)  # and this is what the default was


def test_pyarrow_imported_before_us_gets_the_system_pool_for_python_calls_only():
    """Too late for Arrow's C++ side (its Parquet reader keeps mimalloc); why lint keeps pyarrow in persistence/."""
    assert probe("pyarrow", None) == ("system", 1)
