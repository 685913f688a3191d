"""A child process that appends audit records as fast as it can and prints each acknowledged seq.

    python -m tests.monitoring.audit_writer DIR

The test SIGKILLs it mid-stream: every seq printed was acknowledged (durable), whatever came after.
"""

from __future__ import annotations

import sys

from persistence.audit_trail import AuditTrail


def main(directory: str) -> None:
    trail = AuditTrail(directory)
    n = 0
    while True:
        record = trail.append("trade_submitted", {"n": n, "padding": "x" * (n % 5000)}, actor="/writer")
        print(record.seq, flush=True)
        n += 1


if __name__ == "__main__":
    main(sys.argv[1])
