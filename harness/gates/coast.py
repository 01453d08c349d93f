"""Coasts: stretches where the filter fused no fix and ran on its IMU alone, and how to judge
them against truth without trusting how the fixes were made.

A coast is a gap of at least `min_s` between fused fixes (or from the last one to the end of
the states). While coasting, the error is the IMU's and the filter's alone: its covariance must
still bound the error (D7, "confidently wrong while coasting": NEES above the D1 limit for the
D1 window inside one coast) and, when a scenario states a drift budget, the error must stay
within it. Numbers only: arrays in, spans and figures out.
"""

from __future__ import annotations

import itertools

import numpy as np


def coasts(fused_t: np.ndarray, t_end: float, min_s: float) -> list[tuple[float, float]]:
    """(from, to) of every stretch of at least `min_s` without a fused fix, up to `t_end`."""
    t = np.sort(np.asarray(fused_t, dtype=float))
    if not len(t):
        return []
    edges = np.append(t, max(t_end, float(t[-1])))
    return [(float(a), float(b)) for a, b in itertools.pairwise(edges) if b - a >= min_s]


def inside(t: np.ndarray, spans: list[tuple[float, float]]) -> np.ndarray:
    """Which of the times `t` lie strictly after a coast's last fix and up to its end."""
    out = np.zeros(len(t), dtype=bool)
    for a, b in spans:
        out |= (t > a) & (t <= b)
    return out


def figures(
    t: np.ndarray, err: np.ndarray, eph: np.ndarray, nees: np.ndarray, spans
) -> list[dict[str, float]]:
    """Per coast: its span, the largest error, eph and NEES in it (NaN-safe), for the verdict."""
    out = []
    for a, b in spans:
        k = (t > a) & (t <= b)
        if not k.any():
            continue
        with np.errstate(invalid="ignore"):
            out.append(
                {
                    "from_s": round(a, 2),
                    "to_s": round(b, 2),
                    "max_error_m": round(float(np.nanmax(err[k])), 2),
                    "max_eph_m": round(float(np.nanmax(eph[k])), 2),
                    "max_nees": round(float(np.nanmax(nees[k])), 2),
                }
            )
    return out
