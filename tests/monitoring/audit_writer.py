"""A child process that appends audit records as fast as it can and prints each acknowledged record.

    python -m tests.monitoring.audit_writer DIR [THREADS]

With THREADS (default 1) threads appending at once (their fsyncs grouped), each acknowledged record is
printed as `seq hash` once its append has returned. The test SIGKILLs it mid-stream: every record
printed was acknowledged (durable), whatever came after.
"""

from __future__ import annotations

import sys
import threading

from persistence.audit_trail import AuditTrail

_out = threading.Lock()


def append_forever(trail: AuditTrail, thread: int) -> None:
    n = 0
    while True:
        record = trail.append("trade_submitted", {"thread": thread, "n": n, "padding": "x" * (n % 5000)},
                              actor=f"/writer/{thread}")
        with _out:
            sys.stdout.write(f"{record.seq} {record.hash}\n")
            sys.stdout.flush()
        n += 1


def main(directory: str, threads: int = 1) -> None:
    trail = AuditTrail(directory)
    workers = [threading.Thread(target=append_forever, args=(trail, i), daemon=True) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 1)
