"""What the filter knows of its IMU's timing: the rate and dropouts of the samples released so
far, judged as they arrive (the clip's whole stream is never read ahead of the clock).

A dropout is judged as in `harness.clip.imu_rate.dropouts`, against the median spacing of what
has arrived by the sample that ends it, and named then. The rate is judged when the filter
starts (over what has arrived, once two samples have) and again at the end over the whole
stream as it arrived, so a slow IMU is refused even where the filter never starts.
"""

from __future__ import annotations

import math

import numpy as np

from harness.clip.imu_rate import DROPOUT_PERIODS, median_rate
from harness.errors import ClipError
from harness.reference.eskf.filter import MIN_IMU_HZ


class ImuWatch:
    """The released IMU sample times, fed batch by batch (`add`)."""

    def __init__(self, manifest: dict) -> None:
        self.manifest = manifest
        self._chunks: list[np.ndarray] = []
        self._count = 0
        self._smallest = math.inf  # the smallest spacing so far: the median is no smaller

    def times(self) -> np.ndarray:
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks)]
        return self._chunks[0] if self._chunks else np.empty(0)

    def add(self, t_s: np.ndarray) -> list[tuple[float, float]]:
        """Take the next released sample times; the dropouts (from_s, to_s) that end in them."""
        if not len(t_s):
            return []
        before = self._count
        spacing = np.diff(t_s if not before else np.concatenate([self._chunks[-1][-1:], t_s]))
        self._chunks.append(np.asarray(t_s, dtype=np.float64))
        self._count += len(t_s)
        if not len(spacing):
            return []
        self._smallest = min(self._smallest, float(spacing.min()))
        if self._smallest > 0 and float(spacing.max()) <= DROPOUT_PERIODS * self._smallest:
            return []  # none of these spacings can exceed DROPOUT_PERIODS medians
        t = self.times()
        dt = np.diff(t)
        first = max(before - 1, 0)  # the spacing that ends at the first new sample
        gaps = first + np.flatnonzero(dt[first:] > DROPOUT_PERIODS * float(np.median(dt)))
        return [(float(t[i]), float(t[i + 1])) for i in gaps]

    def require_rate(self) -> None:
        """Refuse an IMU slower than the filter's stated minimum (a config-error: a strapdown
        filter cannot run on it, so its verdict would say nothing of the product)."""
        if self._count < 2:
            return  # no spacing yet
        rate = median_rate(self.times())
        if rate >= MIN_IMU_HZ:
            return
        topic = (self.manifest.get("provenance") or {}).get("imu_topic") or "imu"
        name = self.manifest.get("name", "the clip")
        raise ClipError(
            f"{name}: its IMU ({topic}) runs at {rate:.1f} Hz (median), below the "
            f"{MIN_IMU_HZ:.0f} Hz the reference ESKF needs; give a clip with a faster IMU "
            "(log the IMU at full rate), or a scenario without the filter"
        )
