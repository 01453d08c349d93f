"""Ground truth as the run driver recorded it (`truth/sample` lines), looked up by time.

The stack never sees truth; the driver writes it into the record after the stack has run,
and every gate and picture that compares with truth goes through this one lookup.
Positions are interpolated linearly between samples, attitude is the nearest sample; a time
outside the recorded span, inside a gap in it (neighbours more than GAP_FACTOR sample
spacings apart), or next to a NaN sample gives NaN (the gate then says where).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.gates.fields import array, number
from harness.record import Record

# Beyond the recorded span by more than this, a lookup is NaN rather than the end sample.
EDGE_S = 0.15
# Neighbouring samples further apart than this many median spacings are a gap, not a span.
GAP_FACTOR = 3.0


@dataclass(frozen=True)
class TruthTrack:
    t_s: np.ndarray
    p_ned_m: np.ndarray  # (N, 3)
    q_wxyz: np.ndarray  # (N, 4)

    @classmethod
    def of(cls, record: Record) -> TruthTrack | None:
        """The record's truth, in time order (duplicated lines kept once); None without any."""
        samples = list(record.select("truth", "sample"))
        if not samples:
            return None
        t = np.array([number(record, s, "t_s") for s in samples])
        p = np.stack([array(record, s, "p_ned_m", (3,)) for s in samples])
        q = np.stack([array(record, s, "q_wxyz", (4,)) for s in samples])
        t, first = np.unique(t, return_index=True)
        return cls(t, p[first], q[first])

    def _outside(self, t: np.ndarray) -> np.ndarray:
        out = (t < self.t_s[0] - EDGE_S) | (t > self.t_s[-1] + EDGE_S) | ~np.isfinite(t)
        if len(self.t_s) > 2:
            spacing = np.diff(self.t_s)
            k = np.clip(np.searchsorted(self.t_s, t), 1, len(self.t_s) - 1)
            out |= spacing[k - 1] > GAP_FACTOR * float(np.median(spacing))
        return out

    def position_ne(self, t_s: np.ndarray) -> np.ndarray:
        """(M, 2) north/east at each time; NaN outside the span or next to a NaN sample."""
        t = np.asarray(t_s, dtype=float)
        out = np.stack([self._interp(t, self.p_ned_m[:, k]) for k in range(2)], axis=-1)
        out[self._outside(t)] = np.nan
        return out

    def _interp(self, t: np.ndarray, y: np.ndarray) -> np.ndarray:
        if len(self.t_s) == 1:
            return np.full(t.shape, y[0])
        value = np.interp(t, self.t_s, y)
        # np.interp skips NaN poorly: a result next to a NaN sample must be NaN too.
        k = np.clip(np.searchsorted(self.t_s, t), 1, len(self.t_s) - 1)
        bad = ~np.isfinite(y[k]) | ~np.isfinite(y[k - 1])
        value[bad] = np.nan
        return value

    def attitude(self, t_s: np.ndarray) -> np.ndarray:
        """(M, 4) the nearest sample's quaternion; NaN outside the span."""
        t = np.asarray(t_s, dtype=float)
        k = np.clip(np.searchsorted(self.t_s, t), 0, len(self.t_s) - 1)
        prev = np.clip(k - 1, 0, len(self.t_s) - 1)
        nearer = np.where(np.abs(self.t_s[prev] - t) < np.abs(self.t_s[k] - t), prev, k)
        out = self.q_wxyz[nearer].copy()
        out[self._outside(t)] = np.nan
        return out


def nan_spans(t_s: np.ndarray, bad: np.ndarray) -> list[tuple[float, float]]:
    """The (start, end) times of each run of True in `bad`, for a located reason."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], bad.astype(int), [0]])))
    pairs = zip(edges[::2], edges[1::2], strict=True)
    return [(float(t_s[a]), float(t_s[b - 1])) for a, b in pairs]
