"""What first use costs: each build of a checkpoint, engine, clip or cache entry, timed.

A cold `pytest scenarios/` spends most of its time making things later runs reuse, spread over
the session and the run processes it starts. When BUILD_TIMES_ENV names a file, every `timed`
block appends one JSON line there (kind, what, wall and CPU seconds, pid), so
`bench/suite_bench.py --cold` can say where the time went. CPU seconds are the process's
(all its threads): on a shared host they measure the work, wall time measures the host.
Without the variable a block costs nothing. Nested blocks count once, in the outermost.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator

BUILD_TIMES_ENV = "HARNESS_BUILD_TIMES"
_depth = 0


@contextlib.contextmanager
def timed(kind: str, what: str) -> Iterator[None]:
    """Time the block as a build of `kind` ("training", "engine", ...) named `what`."""
    global _depth
    target = os.environ.get(BUILD_TIMES_ENV)
    if not target or _depth:
        yield
        return
    _depth += 1
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        yield
    finally:
        _depth -= 1
        line = {
            "kind": kind,
            "what": what,
            "wall_s": round(time.perf_counter() - wall, 3),
            "cpu_s": round(time.process_time() - cpu, 3),
            "pid": os.getpid(),
        }
        with open(target, "a", encoding="utf-8") as out:  # one short line: appends interleave whole
            out.write(json.dumps(line) + "\n")
