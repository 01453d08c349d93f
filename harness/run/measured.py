"""What the harness itself measures of a stack's answers, so no verdict rests on the stack's
word: which frames the scenario's query rate asks to be answered (`vpr/expected`, written by
the driver before the stack runs), and the figures of a descriptor and the spread of all of
them, computed from the descriptors the stack handed over."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def query_frames(t_s: Sequence[float], rate_hz: float) -> list[int]:
    """Indices of the first frame at or after each 1/rate_hz tick from the first frame (a
    nanosecond's tolerance: a frame stamped 2.9999999999999996 s is the one at 3 s)."""
    t = np.asarray(t_s, dtype=float)
    if not len(t):
        return []
    ticks = np.arange(t[0], t[-1] + 1e-9, 1.0 / rate_hz)
    return sorted({int(i) for i in np.searchsorted(t + 1e-9, ticks) if i < len(t)})


def expected(t_s: Sequence[float], rate_hz: float) -> dict[str, Any]:
    """The `vpr/expected` event's fields: every query frame, each an answer the gates count."""
    frames = query_frames(t_s, rate_hz)
    return {"rate_hz": rate_hz, "frames": frames, "t_s": [float(t_s[i]) for i in frames]}


def figures(descriptor: np.ndarray) -> dict[str, Any]:
    """A descriptor's contract figures (the vpr-contract gate judges them), measured."""
    values = np.asarray(descriptor)
    finite = bool(np.all(np.isfinite(values)))
    norm = float(np.linalg.norm(values.astype(np.float64))) if finite else None
    return {"shape": list(values.shape), "dtype": str(values.dtype), "finite": finite, "norm": norm}


def spread(descriptors: Sequence[np.ndarray]) -> dict[str, Any] | None:
    """How alike the query descriptors are (the `vpr/spread` event's fields): near 1.0
    everywhere means they have collapsed; NaN when any is not finite; None under two."""
    if len(descriptors) < 2:
        return None
    rows = np.array([np.asarray(d, dtype=np.float64).reshape(-1) for d in descriptors])
    with np.errstate(invalid="ignore", over="ignore"):
        unit = rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
        cos = unit @ unit.T
    off = cos[~np.eye(len(cos), dtype=bool)]
    return {
        "queries": len(rows),
        "mean_cosine": float(off.mean()),
        "min_cosine": float(off.min()),
    }
