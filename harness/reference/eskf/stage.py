"""The ESKF stage: replays the clip's IMU through the filter, applies fixes at their image
timestamps, and records fixes and decimated states (10 Hz) with their truth.

Replay processes IMU samples and fixes in timestamp order, which is what a delayed-state
buffer achieves online: each fix is fused at the instant its image was taken.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from harness.clip import Clip, Truth
from harness.reference.eskf.filter import Eskf, ImuNoise, InitialSigma
from harness.run.stage import Fix, RunContext, StageStop
from harness.scenario.model import EskfSpec

STATE_RATE_HZ = 10.0
Emit = Callable[..., Any]  # (stage, type, **fields), as RunContext.emit


def noise_from_manifest(manifest: dict) -> ImuNoise:
    """The clip's stated IMU densities when it has them (the stand-in does), else defaults."""
    figures = manifest.get("imu_noise") or {}
    if not figures:
        return ImuNoise()
    return ImuNoise(
        accel_noise=figures["accel_noise_m_s2_sqrt_hz"],
        gyro_noise=figures["gyro_noise_rad_s_sqrt_hz"],
        accel_bias_rw=figures["accel_bias_rw_m_s3_sqrt_hz"],
        gyro_bias_rw=figures["gyro_bias_rw_rad_s2_sqrt_hz"],
    )


def _yawed(q: np.ndarray, yaw_deg: float) -> np.ndarray:
    """q with an extra rotation about world down (an initial heading error)."""
    h = math.radians(yaw_deg) / 2
    w1, z1 = math.cos(h), math.sin(h)
    w, x, y, z = q
    return np.array([w1 * w - z1 * z, w1 * x - z1 * y, w1 * y + z1 * x, w1 * z + z1 * w])


def navigate(ctx: RunContext, fixes: list[Fix]) -> None:
    if ctx.clip.truth is None:
        raise StageStop("the filter is initialised from the clip's first truth sample; none")
    ctx.clip.need("imu", "the ESKF replay")
    ctx.clip.need("attitude", "the ESKF (initialised from the first truth sample)")
    replay(ctx.clip, fixes, ctx.scenario.eskf, ctx.emit)


def replay(clip: Clip, fixes: list[Fix], spec: EskfSpec, emit: Emit) -> None:
    """Run the filter over the clip's IMU and `fixes`, emitting fix, state and latency events."""
    truth, imu = clip.truth, clip.imu
    q0 = _yawed(truth.q_wxyz[0], spec.init_yaw_error_deg)
    sigma = InitialSigma(p_m=spec.init_sigma_p_m, yaw_rad=math.radians(spec.init_sigma_yaw_deg))
    filt = Eskf(
        truth.p_ned_m[0],
        truth.v_ned_m_s[0],
        q0,
        noise_from_manifest(clip.manifest),
        sigma,
        gate_nis=spec.gate_nis,
    )
    order = sorted(fixes, key=lambda f: f.t_s)
    k_fix, next_state, last_accepted = 0, 0.0, float(imu.t_s[0])
    started = time.perf_counter()
    t_imu = imu.t_s
    dt = np.diff(t_imu)
    k, n = 1, len(t_imu)
    while k < n:  # the samples between two fixes, propagated in one vectorised call
        while k_fix < len(order) and order[k_fix].t_s <= float(t_imu[k]):
            fix = order[k_fix]
            if _fuse(emit, filt, fix, truth):
                last_accepted = fix.t_s
            elif spec.reset_after_s and fix.t_s - last_accepted >= spec.reset_after_s:
                _reset(emit, filt, fix)
                last_accepted = fix.t_s
            k_fix += 1
        end = n  # the next fix is fused before the first sample at or after its time
        if k_fix < len(order):
            end = max(int(np.searchsorted(t_imu, order[k_fix].t_s, "left")), k + 1)
        stops = []  # samples after which a state is due: at or past next_state, one per sample
        while True:
            j = max(int(np.searchsorted(t_imu, next_state, "left")), stops[-1] + 1 if stops else k)
            if j >= end:
                break
            stops.append(j)
            next_state += 1.0 / STATE_RATE_HZ

        def state_at(j: int, first: int = k) -> None:
            _state(emit, filt, float(t_imu[first + j]), truth)

        filt.propagate_many(
            imu.gyro_rad_s[k:end],
            imu.accel_m_s2[k:end],
            dt[k - 1 : end - 1],
            stops=[j - k for j in stops],
            on_stop=state_at,
        )
        k = end
    seconds = time.perf_counter() - started
    emit(
        "eskf",
        "throughput",
        seconds=seconds,
        x_real_time=float(t_imu[-1] - t_imu[0]) / max(seconds, 1e-9),
    )


def _fuse(emit: Emit, filt: Eskf, fix: Fix, truth: Truth) -> bool:
    started = time.perf_counter()
    result = filt.fix(np.asarray(fix.z_ne_m, float), fix.sigma_m)
    # One latency sample per fix: the update a fix costs the onboard filter.
    emit("latency", "sample", stage_name="eskf", ms=(time.perf_counter() - started) * 1e3)
    emit(
        "eskf",
        "fix",
        t_s=fix.t_s,
        z_ne_m=list(fix.z_ne_m),
        sigma_m=fix.sigma_m,
        source=fix.source,
        innovation_m=result.innovation_m,
        S=result.S,
        nis=result.nis,
        accepted=result.accepted,
        truth_ne_m=truth.p_ned_m[truth.index_at(fix.t_s), :2],
    )
    return result.accepted


def _reset(emit: Emit, filt: Eskf, fix: Fix) -> None:
    z = np.asarray(fix.z_ne_m, float)
    if not np.all(np.isfinite(z)):
        return
    emit("eskf", "reset", t_s=fix.t_s, from_ne_m=filt.p[:2].copy(), to_ne_m=z)
    filt.reset_position(z, fix.sigma_m)


def _state(emit: Emit, filt: Eskf, t: float, truth: Truth) -> None:
    P = filt.P
    p_hh = P[0:2, 0:2]
    i = truth.index_at(t)
    emit(
        "eskf",
        "state",
        t_s=t,
        p_ned_m=filt.p,
        v_ned_m_s=filt.v,
        q_wxyz=filt.q_wxyz,
        P_hh=p_hh,
        eph_m=float(math.sqrt(max(np.trace(p_hh), 0.0))),
        sigma_yaw_deg=math.degrees(math.sqrt(max(filt.yaw_variance(), 0.0))),
        truth_p_ned_m=truth.p_ned_m[i],
        truth_q_wxyz=truth.q_wxyz[i],
        numerical=filt.numerical_problem(),
    )
