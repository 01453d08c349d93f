"""The benches' yardstick: a fixed single-threaded numpy workload timed beside their figures,
so a busy host shows as a slow yardstick too (this machine is shared: read the ratios)."""

from __future__ import annotations

import time

import numpy as np


def reference_workload() -> float:
    """Seconds for 40 products of 384x384 matrices (with a tanh), one thread's worth."""
    a = np.random.default_rng(0).standard_normal((384, 384))
    start = time.perf_counter()
    for _ in range(40):
        a = np.tanh(a @ a.T / 384.0)
    return time.perf_counter() - start
