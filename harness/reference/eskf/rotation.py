"""Rodrigues' rotation on plain floats, in one place for the per-sample filter and its compiled
loop (`propagation` compiles this same function with numba)."""

from __future__ import annotations

import math

import numpy as np


def rodrigues(x: float, y: float, z: float) -> np.ndarray:
    """exp([x y z]x): the per-sample hot path, a few times cheaper than numpy on an array."""
    a2 = x * x + y * y + z * z
    if a2 < 1e-18:
        s, c = 1.0, 0.5
    else:
        a = math.sqrt(a2)
        s, c = math.sin(a) / a, (1 - math.cos(a)) / a2
    return np.array(
        [
            [1 - c * (y * y + z * z), c * x * y - s * z, c * x * z + s * y],
            [c * x * y + s * z, 1 - c * (x * x + z * z), c * y * z - s * x],
            [c * x * z - s * y, c * y * z + s * x, 1 - c * (x * x + y * y)],
        ]
    )
