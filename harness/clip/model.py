"""The in-memory clip every reader returns: IMU, optional truth, frames, camera, corpus access."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from harness.clip.corpus import TileCorpus
    from harness.clip.video import VideoFrames


@dataclass(frozen=True)
class Origin:
    lat_deg: float
    lon_deg: float
    alt_m: float

    def as_tuple(self) -> tuple[float, float, float]:
        return (self.lat_deg, self.lon_deg, self.alt_m)


@dataclass(frozen=True)
class ImuStream:
    """Specific force and angular rate in FRD; empty arrays where a recording has no IMU."""

    t_s: np.ndarray
    gyro_rad_s: np.ndarray
    accel_m_s2: np.ndarray

    def cut(self, t0: float, t1: float) -> ImuStream:
        lo, hi = np.searchsorted(self.t_s, [t0, t1], side="left")
        return ImuStream(self.t_s[lo:hi] - t0, self.gyro_rad_s[lo:hi], self.accel_m_s2[lo:hi])


@dataclass(frozen=True)
class Truth:
    """NED position/velocity and body->world w-first quaternion; NaN where a source lacks one."""

    t_s: np.ndarray
    p_ned_m: np.ndarray
    v_ned_m_s: np.ndarray
    q_wxyz: np.ndarray

    def index_at(self, t_s: float | np.ndarray) -> int | np.ndarray:
        """The first truth sample at or after `t_s` (clamped to the stream)."""
        k = np.clip(np.searchsorted(self.t_s, t_s), 0, len(self.t_s) - 1)
        return int(k) if np.ndim(k) == 0 else k

    def cut(self, t0: float, t1: float) -> Truth:
        lo, hi = np.searchsorted(self.t_s, [t0, t1], side="left")
        return Truth(
            self.t_s[lo:hi] - t0, self.p_ned_m[lo:hi], self.v_ned_m_s[lo:hi], self.q_wxyz[lo:hi]
        )


@dataclass(frozen=True)
class Camera:
    """Pinhole intrinsics [px]; `r_body_cam` maps camera axes (x right, y down, z ahead) to FRD."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int
    mounting: dict = field(default_factory=dict)

    @property
    def r_body_cam(self) -> np.ndarray:
        return np.asarray(self.mounting["r_body_cam"], dtype=np.float64)


class Frames:
    """Frame timestamps plus lazy decoding; a segment is a window onto the same video."""

    def __init__(self, t_s: np.ndarray, video: VideoFrames | None, first: int = 0) -> None:
        self.t_s = t_s
        self._video = video
        self._first = first

    def __len__(self) -> int:
        return len(self.t_s)

    def read(self, i: int) -> np.ndarray:
        """Frame i as H x W x 3 uint8 RGB."""
        if not 0 <= i < len(self):
            raise IndexError(f"frame {i} is outside this clip's {len(self)} frames")
        return self._video.read(self._first + i)  # a clip with frames always has a video

    def cut(self, t0: float, t1: float) -> Frames:
        lo, hi = np.searchsorted(self.t_s, [t0, t1], side="left")
        return Frames(self.t_s[lo:hi] - t0, self._video, self._first + int(lo))


@dataclass(frozen=True)
class Clip:
    content_hash: str
    origin: Origin
    duration_s: float
    imu: ImuStream
    truth: Truth | None
    frames: Frames
    camera: Camera | None
    manifest: dict
    _corpora: dict[str, Callable[[], TileCorpus]] = field(default_factory=dict, repr=False)

    def has_corpus(self, kind: str) -> bool:
        return kind in self._corpora

    def corpus(self, kind: str = "local-grid") -> TileCorpus:
        """The clip's tile corpus (`local-grid` or `xyz`)."""
        from harness.errors import ClipError

        if kind not in self._corpora:
            have = ", ".join(self._corpora) or "none"
            raise ClipError(
                f"{self.manifest.get('_path', 'clip')}: manifest 'corpus' has no "
                f"{kind!r} tile corpus "
                f"(has: {have}); make the clip with the synth generator, or pass a tile folder "
                "with harness.clip.xyz.read_xyz_folder"
            )
        return self._corpora[kind]()

    def need(self, stream: str, user: str) -> None:
        """Raise a ClipError naming `stream` when this clip lacks it (imu, truth, frames,
        attitude) and what `user` (e.g. "the netvlad strategy") needs it for."""
        from harness.errors import ClipError

        missing = {
            "imu": len(self.imu.t_s) < 2,
            "frames": len(self.frames) == 0,
            "truth": self.truth is None or len(self.truth.t_s) == 0,
            "attitude": self.truth is None or not np.isfinite(self.truth.q_wxyz[:1]).all(),
        }[stream]
        if not missing:
            return
        fix = {
            "imu": "replay a recording with an IMU (PX4 ULog, a ROS 2 bag with sensor_msgs/Imu), "
            "or import a DJI SRT with simulate_imu",
            "frames": "import the recording with its video, or use the oracle strategy",
            "truth": "use a clip with ground truth (GNSS or the autopilot's estimate)",
            "attitude": "use a clip whose truth has attitude (PX4 ULog, a synth clip, or a DJI "
            "SRT imported with simulate_imu)",
        }[stream]
        where = self.manifest.get("_path", "clip")
        have = [k for k, v in self.manifest.get("streams", {}).items() if v]
        raise ClipError(
            f"{where}: {user} needs the clip's {stream} stream, and this clip has none "
            f"(its streams: {', '.join(have) or 'none'}); {fix}"
        )

    def segment(self, start_s: float, duration_s: float | None) -> Clip:
        """The window [start_s, start_s + duration_s) with times from its own start; no copying."""
        from harness.errors import ClipError

        end = self.duration_s if duration_s is None else start_s + duration_s
        if start_s >= self.duration_s or end > self.duration_s + 1e-9:
            raise ClipError(
                f"{self.manifest.get('_path', 'clip')}: segment [{start_s}, {end}) s lies outside "
                f"the clip's {self.duration_s:.3f} s; shorten segment.duration_s or start earlier"
            )
        if start_s == 0 and end >= self.duration_s:
            return self
        cut_hash = hashlib.sha256(f"{self.content_hash}:{start_s!r}:{end!r}".encode()).hexdigest()
        return replace(
            self,
            content_hash=cut_hash,
            duration_s=end - start_s,
            imu=self.imu.cut(start_s, end),
            truth=None if self.truth is None else self.truth.cut(start_s, end),
            frames=self.frames.cut(start_s, end),
        )


def empty_imu() -> ImuStream:
    return ImuStream(np.zeros(0), np.zeros((0, 3)), np.zeros((0, 3)))
