"""Attitude and height as the onboard stack knows them: the flight controller's telemetry.

Query alignment and the filter's start need the vehicle's attitude (AHRS) and height above
ground (baro). In a replay both come from the clip's `telemetry` stream, read causally (the
last sample published at or before the instant), never from ground truth. Baro height is
taken as height above ground: the stand-in's ground is flat at the origin's altitude.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from harness.clip import Clip
from harness.clip.model import Telemetry
from harness.run.stage import StageStop


@dataclass(frozen=True)
class Pose:
    """Body->NED attitude (w-first) and height above ground [m], and where they came from."""

    q_wxyz: np.ndarray
    height_m: float
    source: str  # "telemetry" or "filter"

    def as_event(self) -> dict:
        return {"source": self.source, "q_wxyz": self.q_wxyz, "height_m": self.height_m}


def require_telemetry(clip: Clip, needed_for: str, fix: str) -> None:
    """StageStop naming the missing stream when the clip has no telemetry."""
    if clip.telemetry is None:
        raise StageStop(
            f"{needed_for} reads AHRS attitude and baro height from the clip's `telemetry` "
            f"stream, and this clip has none: {fix}"
        )


def telemetry_pose(clip: Clip, t_s: float) -> Pose | None:
    """The telemetry sample last published at or before `t_s`; None before the stream starts
    or where the sample lacks attitude or height (NaN)."""
    return pose_at(clip.telemetry, t_s)


def pose_at(tel: Telemetry, t_s: float) -> Pose | None:
    """`telemetry_pose` over a telemetry stream (or the part of it released so far)."""
    k = tel.index_at(t_s)
    if k is None:
        return None
    q, height = np.asarray(tel.q_wxyz[k], float), float(tel.baro_height_m[k])
    if not (np.all(np.isfinite(q)) and math.isfinite(height)):
        return None
    return Pose(q, height, "telemetry")
