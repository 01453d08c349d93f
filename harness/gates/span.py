"""The span an eskf-divergence verdict judges: where the clip's truth starts and ends (the run
driver's `truth/span`), where the fixes start, whether the states cover it, and the IMU
dropouts the stack named inside it.

A real log's GNSS locks seconds after boot, so its truth and oracle fixes start late: the
judged span starts at the later of the two, and a record is cut short only when its states
stop inside that span. Truth missing inside the span the driver stated is a hole, not a late
start.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from harness.gates.fields import number
from harness.record import Record


def truth_span(record: Record) -> tuple[float, float]:
    """Where the clip's truth starts and ends, as the driver stated it (`truth/span`); (0, inf)
    when the record does not say (then every state must have truth, as before spans were
    recorded)."""
    span = next(iter(record.select("truth", "span")), None)
    if span is None:
        return 0.0, math.inf
    return number(record, span, "t_s"), number(record, span, "to_s")


def judged_from(truth_start_s: float, fix_t: np.ndarray) -> float:
    """Where the judged span starts: the clip's first truth, or the first fix when later."""
    first_fix = float(np.min(fix_t)) if len(fix_t) else 0.0
    return max(truth_start_s, first_fix)


def coverage(
    t: np.ndarray, duration_s: float | None, max_gap_s: float, start_s: float = 0.0
) -> str | None:
    """Why the states do not cover the judged span (from `start_s` to the clip's end), or None
    when they do."""
    if duration_s is None:
        return "the record does not say how long the clip is (provenance clip_duration_s)"
    if len(t) == 0:
        return "the filter recorded no states"
    edges = [("start", float(t[0]), start_s), ("end", duration_s, float(t[-1]))]
    for where, later, earlier in edges:
        if later - earlier > max_gap_s:
            return (
                f"states cover {t[0]:.1f}-{t[-1]:.1f} s of a {duration_s:.1f} s clip judged "
                f"from {start_s:.1f} s (nothing at the {where}): the record was cut short"
            )
    gaps = np.diff(t)
    if len(gaps) and gaps.max() > max_gap_s:
        k = int(np.argmax(gaps))
        return f"no states from {t[k]:.1f} s to {t[k + 1]:.1f} s (> max_gap_s {max_gap_s:g})"
    return None


def imu_dropouts(record: Record) -> list[str]:
    """The IMU dropouts the stack named (`eskf/imu-dropout`), each as "from-to s"."""
    return [_span(record, e) for e in record.select("eskf", "imu-dropout")]


def _span(record: Record, event: dict[str, Any]) -> str:
    return f"{number(record, event, 'from_s'):.2f}-{number(record, event, 'to_s'):.2f} s"
