"""The harness's one clock: a clip's sensor data released to the stack under test in time
order, as it would reach the stack in flight.

`schedule` orders every IMU sample, telemetry sample and frame of a clip by its time (at equal
times: IMU, then telemetry, then the frame, so a frame comes after the motion that led to it).
A process stack gets each release on its stdin (and a frame's pixels as a file written at that
moment) when the paced `Clock` reaches its time; an in-process stage reads `released(clip)`,
sample by sample (a frame's pixels only when its turn comes) or in runs up to a time. Neither
can reach a sample before its release: both are causal by construction.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Container, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from harness.clip.model import ImuStream, Telemetry

if TYPE_CHECKING:
    from harness.clip import Clip

Kind = Literal["imu", "telemetry", "frame"]
ORDER: dict[str, int] = {"imu": 0, "telemetry": 1, "frame": 2}
_KINDS: dict[int, Kind] = {v: k for k, v in ORDER.items()}


@dataclass(frozen=True)
class Release:
    """One sample of one stream: `index` into the clip's stream `kind`, released at `t_s`."""

    kind: Kind
    index: int
    t_s: float


@dataclass(frozen=True)
class Sample:
    """A released sample's values: IMU (gyro, accel), telemetry (attitude, baro height) or a
    frame (its pixels, H x W x 3 uint8)."""

    release: Release
    gyro_rad_s: np.ndarray | None = None
    accel_m_s2: np.ndarray | None = None
    q_wxyz: np.ndarray | None = None
    baro_height_m: float | None = None
    pixels: np.ndarray | None = None


def _order(clip: Clip) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every sample's stream (its ORDER), index and time, in release order."""
    streams = [("imu", clip.imu.t_s), ("frame", clip.frames.t_s)]
    if clip.telemetry is not None:
        streams.append(("telemetry", clip.telemetry.t_s))
    times = [np.asarray(t, dtype=float) for _, t in streams]
    kind = np.concatenate(
        [np.full(len(t), ORDER[k]) for (k, _), t in zip(streams, times, strict=True)]
    )
    index = np.concatenate([np.arange(len(t)) for t in times])
    t_s = np.concatenate(times)
    order = np.lexsort((index, kind, t_s))
    return kind[order], index[order], t_s[order]


def schedule(clip: Clip) -> list[Release]:
    """Every sample of the clip's IMU, telemetry and frames, in release order."""
    return [
        Release(_KINDS[int(k)], int(i), float(t)) for k, i, t in zip(*_order(clip), strict=True)
    ]


def sample(clip: Clip, release: Release) -> Sample:
    """The values of one released sample (a frame's pixels decoded now)."""
    i = release.index
    if release.kind == "imu":
        return Sample(release, gyro_rad_s=clip.imu.gyro_rad_s[i], accel_m_s2=clip.imu.accel_m_s2[i])
    if release.kind == "telemetry":
        tel = clip.telemetry
        return Sample(release, q_wxyz=tel.q_wxyz[i], baro_height_m=float(tel.baro_height_m[i]))
    return Sample(release, pixels=clip.frames.read(i))


@dataclass(frozen=True)
class Batch:
    """What the clock released over a stretch of time, stream by stream, in time order: the
    IMU and telemetry values (copies: nothing later is reachable through them) and the frames'
    indices (no pixels)."""

    imu: ImuStream
    telemetry: Telemetry
    frames: np.ndarray


class Released:
    """The in-process stage's view of the clip, one clock for both ways of reading it:
    iterated, each sample in release order, a frame's pixels only at its turn (decoded for the
    frames in `pixels_of`, every frame when None); or `until(t_s)`, everything released up to
    `t_s` at once (runs of IMU samples for a batched filter). A stage that keeps what it was
    given keeps only the past."""

    def __init__(
        self, clip: Clip, pixels_of: Container[int] | None = None, clock: Clock | None = None
    ) -> None:
        self._clip, self._pixels_of, self._clock = clip, pixels_of, clock
        self._kind, self._index, self._t = _order(clip)
        self._next = 0  # the first release not yet handed out

    def _pace(self, t_s: float, frames: np.ndarray) -> None:
        """On a paced clock (a throughput sweep): wait until `t_s` is due, and stamp each frame
        released with its due time (a camera takes the frame then, however late the stage
        asks for it). Unpaced (None): the stage reads as fast as it can."""
        clock = self._clock
        if clock is None:
            return
        clock.start()  # the first read of the clip: the stage is ready
        clock.wait_for(t_s)
        for i in frames:
            if clock.released[i] is None:
                clock.released[i] = clock.due(float(self._clip.frames.t_s[i]))

    def __iter__(self) -> Iterator[Sample]:
        return self

    def __next__(self) -> Sample:
        if self._next >= len(self._t):
            raise StopIteration
        n, self._next = self._next, self._next + 1
        release = Release(_KINDS[int(self._kind[n])], int(self._index[n]), float(self._t[n]))
        self._pace(release.t_s, [release.index] if release.kind == "frame" else [])
        pixels_of = self._pixels_of
        if release.kind == "frame" and pixels_of is not None and release.index not in pixels_of:
            return Sample(release)
        return sample(self._clip, release)

    def until(self, t_s: float) -> Batch:
        """Every sample not yet handed out whose time is at or before `t_s`."""
        end = max(self._next, int(np.searchsorted(self._t, t_s, side="right")))
        kind, index = self._kind[self._next : end], self._index[self._next : end]
        if end > self._next:  # paced: until the last of them is out (`t_s` may be math.inf)
            self._pace(float(self._t[end - 1]), index[kind == ORDER["frame"]])
        self._next = end
        imu, tel = self._clip.imu, self._clip.telemetry
        i = index[kind == ORDER["imu"]]
        j = index[kind == ORDER["telemetry"]]
        empty = np.empty(0)
        return Batch(
            ImuStream(imu.t_s[i], imu.gyro_rad_s[i], imu.accel_m_s2[i]),
            Telemetry(empty, np.empty((0, 4)), empty)
            if tel is None
            else Telemetry(tel.t_s[j], tel.q_wxyz[j], tel.baro_height_m[j]),
            index[kind == ORDER["frame"]],
        )


def released(
    clip: Clip, pixels_of: Container[int] | None = None, clock: Clock | None = None
) -> Released:
    """The clip as the clock releases it to an in-process stage (see `Released`), paced by
    `clock` when one is given."""
    return Released(clip, pixels_of, clock)


class Clock:
    """Real time for a process stack: started when the stack says it is ready, then a release
    at `t_s` is due `t_s / speed` seconds later (an in-process stage on a throughput sweep's
    clock: started at its first read of the clip, see `Released`). Records when each frame
    went out (for the latency and causality of the lines that answer it)."""

    def __init__(self, frames: int, speed: float) -> None:
        self.speed = speed
        self.released: list[float | None] = [None] * frames
        self.started = 0.0
        self.ready = threading.Event()
        self.stopped = threading.Event()  # the stack is gone: release nothing more

    def start(self) -> None:
        """The stack said it is ready: time 0 is now."""
        if not self.ready.is_set():
            self.started = time.monotonic()
            self.ready.set()

    def due(self, t_s: float) -> float:
        """When the release at `t_s` is due (time.monotonic)."""
        return self.started + t_s / self.speed

    def wait_for(self, t_s: float) -> bool:
        """Sleep until the release at `t_s` is due; False when the clock was stopped."""
        delay = self.due(t_s) - time.monotonic()
        if delay > 0:
            self.stopped.wait(delay)
        return not self.stopped.is_set()

    def latency_ms(self, frame: int | None, arrived: float) -> tuple[bool, float | None]:
        """Whether `frame` (None: no frame named) was released when a line naming it arrived,
        and the time since its release."""
        if frame is None or not 0 <= frame < len(self.released):
            return True, None
        at = self.released[frame]
        return (False, None) if at is None else (True, (arrived - at) * 1e3)
