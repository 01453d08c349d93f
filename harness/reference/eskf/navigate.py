"""The ESKF stage: replays the clip's IMU through the filter with the fixes in time order and
records its start, fixes (each with a latency sample: the update a fix costs the onboard
filter), baro updates and decimated states (10 Hz); it never sees truth.

Replay processes IMU samples and fixes in timestamp order, which is what a delayed-state
buffer achieves online: each fix is fused at the instant its image was taken.

Fixes come from a `FixSource`: a list made before the replay (the oracle, or retrieval aligned
from telemetry), or retrieval asked for each fix only once the filter has reached that frame's
time, so that the query is aligned with the filter's own attitude and height.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import astuple
from typing import TYPE_CHECKING, Protocol

from harness.clip import Clip
from harness.reference.attitude import Pose, require_telemetry
from harness.reference.eskf.filter import ImuNoise
from harness.reference.eskf.filter_replay import Emit, Replay
from harness.reference.eskf.imu_watch import ImuWatch
from harness.reference.settings import EskfSpec
from harness.run import feed
from harness.run.stage import Fix, RunContext

if TYPE_CHECKING:
    from harness.run.feed import Released


class FixSource(Protocol):
    """Fix times known up front; each fix made when the replay reaches its time."""

    times: Sequence[float]

    def fix(self, n: int, pose: Pose | None) -> Fix | None:
        """Fix `n`, given the attitude and height known at its time (None: no fix)."""


class Listed:
    """Fixes made before the replay; they need no pose."""

    def __init__(self, fixes: list[Fix]) -> None:
        self._fixes = sorted(fixes, key=lambda f: f.t_s)
        self.times = [f.t_s for f in self._fixes]

    def fix(self, n: int, pose: Pose | None) -> Fix | None:
        return self._fixes[n]


def noise_from_manifest(manifest: dict, scale: float = 1.0) -> ImuNoise:
    """The clip's stated IMU densities when it has them (the stand-in does), else defaults;
    times `scale` (EskfSpec.imu_noise_scale, a fault)."""
    figures = manifest.get("imu_noise") or {}
    noise = ImuNoise()
    if figures:
        noise = ImuNoise(
            accel_noise=figures["accel_noise_m_s2_sqrt_hz"],
            gyro_noise=figures["gyro_noise_rad_s_sqrt_hz"],
            accel_bias_rw=figures["accel_bias_rw_m_s3_sqrt_hz"],
            gyro_bias_rw=figures["gyro_bias_rw_rad_s2_sqrt_hz"],
        )
    return ImuNoise(*(scale * x for x in astuple(noise)))


def navigate(ctx: RunContext, fixes: list[Fix] | FixSource) -> None:
    ctx.clip.need("imu", "the ESKF replay")
    replay(ctx.clip, fixes, ctx.scenario.eskf, ctx.emit, ctx.released())


def replay(
    clip: Clip,
    fixes: list[Fix] | FixSource,
    spec: EskfSpec,
    emit: Emit,
    released: Released | None = None,
) -> None:
    """Run the filter over the clip's IMU and the fixes, emitting init, fix, state, baro and
    latency events. The IMU and telemetry come from `released` (the clip on the harness's
    clock, `feed.released(clip)` when None), run up to each fix's time before it is asked for:
    the clip itself gives only its manifest and which streams it has (the IMU's rate and
    dropouts are judged from its samples as they arrive, `ImuWatch`). A `FixSource` is asked
    for each fix with the filter's attitude and height at its time (before the filter has
    started, the telemetry it starts from)."""
    require_telemetry(
        clip,
        "the filter's start (height from the baro, attitude from the AHRS)",
        "use a bundle with a telemetry stream (docs/clip.md)",
    )
    source = Listed(fixes) if isinstance(fixes, list) else fixes
    released = feed.released(clip) if released is None else released
    noise = noise_from_manifest(clip.manifest, spec.imu_noise_scale)
    run = Replay(released, spec, noise, emit, ImuWatch(clip.manifest))
    started = time.perf_counter()
    for n, t_fix in enumerate(source.times):
        run.advance(t_fix)
        fix = source.fix(n, run.pose(t_fix))
        if fix is not None:
            run.take(fix)
    run.finish()
    seconds = time.perf_counter() - started
    if run.filt is None:
        emit("eskf", "no-start", reason="no finite fix with telemetry to start the filter from")
        return
    span = float(run.t[-1] - run.t0)
    emit("eskf", "throughput", seconds=seconds, x_real_time=span / max(seconds, 1e-9))
