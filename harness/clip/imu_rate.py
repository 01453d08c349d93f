"""The rate of an IMU stream and its dropouts, from its sample times alone.

The rate is the median sample rate, so a few dropouts do not hide a fast IMU and a slowly
logged one is not mistaken for a fast one with gaps. A dropout is a gap longer than
DROPOUT_PERIODS median periods. MIN_IMU_HZ is the slowest IMU the ULog reader takes by
default: the reference ESKF's stated minimum (tests hold the two equal).
"""

from __future__ import annotations

import numpy as np

MIN_IMU_HZ = 100.0
DROPOUT_PERIODS = 5.0


def median_rate(t: np.ndarray) -> float:
    """Samples per unit of `t` (per second for seconds), from the median spacing, to 0.01
    (so float noise on a 100 Hz clock reads 100.0); 0 if none."""
    dt = np.diff(np.asarray(t, dtype=np.float64))
    dt = dt[dt > 0]
    return round(float(1.0 / np.median(dt)), 2) if len(dt) else 0.0


def dropouts(t: np.ndarray) -> list[tuple[float, float]]:
    """(start, end) of every gap longer than DROPOUT_PERIODS median spacings, in `t`'s unit."""
    t = np.asarray(t, dtype=np.float64)
    dt = np.diff(t)
    if not len(dt):
        return []
    gaps = np.flatnonzero(dt > DROPOUT_PERIODS * float(np.median(dt)))
    return [(float(t[i]), float(t[i + 1])) for i in gaps]
