"""The filter stepping through a clip's IMU as the harness's clock releases it: started at the
first finite fix, advanced to each fix's time, fusing baro heights as they fall due and logging
states at 10 Hz. It reads the IMU and telemetry released up to the time it has reached, never
the clip's arrays.

The start uses only what the vehicle knows: the fix's horizontal position (sigma = the fix's
sigma), the baro height and AHRS attitude of the telemetry released by then, velocity zero;
each with the sigma the scenario states, all recorded in one `eskf/init` event; the start fix
is also recorded as a used `eskf/fix` (innovation zero, note "started the filter").
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from harness.clip.model import Telemetry
from harness.reference.attitude import Pose, pose_at
from harness.reference.eskf.filter import (
    Eskf,
    ImuNoise,
    InitialSigma,
    Stops,
    matrix_to_quat,
    numerical_problems,
)
from harness.reference.eskf.imu_watch import ImuWatch
from harness.reference.settings import EskfSpec
from harness.run.stage import Fix

if TYPE_CHECKING:
    from harness.run.feed import Released

STATE_RATE_HZ = 10.0
Emit = Callable[..., Any]  # (stage, type, **fields), as RunContext.emit


def _yawed(q: np.ndarray, yaw_deg: float) -> np.ndarray:
    """q with an extra rotation about world down (an initial heading error)."""
    h = math.radians(yaw_deg) / 2
    w1, z1 = math.cos(h), math.sin(h)
    w, x, y, z = q
    return np.array([w1 * w - z1 * z, w1 * x - z1 * y, w1 * y + z1 * x, w1 * z + z1 * w])


class Replay:
    """One filter run over the IMU as the clock releases it; `filt` is None until the first
    finite fix starts it.

    It holds only what has been released and not yet used: the IMU samples from the one the
    filter is at (`t`, `gyro`, `accel`; `k` indexes them) and the telemetry from the sample
    last published at or before it. Each `advance` first runs the clock to its time; the IMU's
    timing is judged as it arrives (`imu`: its dropouts named, its rate refused when too slow).
    """

    def __init__(
        self, released: Released, spec: EskfSpec, noise: ImuNoise, emit: Emit, imu: ImuWatch
    ) -> None:
        self.released, self.spec, self.noise, self.emit, self.imu = released, spec, noise, emit, imu
        self.t, self.gyro, self.accel = np.empty(0), np.empty((0, 3)), np.empty((0, 3))
        self.tel = Telemetry(np.empty(0), np.empty((0, 4)), np.empty(0))
        self.filt: Eskf | None = None
        self.k = 0  # the IMU sample the filter is at
        self.t0 = math.nan  # the time of the sample it started at
        self.next_state = self.next_baro = 0.0
        self.last_accepted = 0.0
        self.baro = {"updates": 0, "rejected": 0, "missing": 0}

    def pose(self, t_s: float) -> Pose | None:
        """The filter's attitude and height; before it starts, the telemetry it starts from."""
        if self.filt is None:
            return pose_at(self.tel, t_s)
        return Pose(self.filt.q_wxyz, -float(self.filt.p[2]), "filter")

    def _release(self, t_s: float) -> None:
        """Run the clock to `t_s` and keep what is still of use: from the sample the filter is
        at (before it starts: the last one before `t_s`, where it would start)."""
        batch = self.released.until(t_s)
        for a, b in self.imu.add(batch.imu.t_s):  # named, so the verdict can say where
            self.emit("eskf", "imu-dropout", from_s=a, to_s=b)
        t = np.concatenate([self.t, batch.imu.t_s])
        keep = self.k if self.filt is not None else max(0, int(np.searchsorted(t, t_s)) - 1)
        self.t = t[keep:]
        self.gyro = np.concatenate([self.gyro, batch.imu.gyro_rad_s])[keep:]
        self.accel = np.concatenate([self.accel, batch.imu.accel_m_s2])[keep:]
        self.k -= keep
        tel, new = self.tel, batch.telemetry
        tel = Telemetry(
            np.concatenate([tel.t_s, new.t_s]),
            np.concatenate([tel.q_wxyz, new.q_wxyz]),
            np.concatenate([tel.baro_height_m, new.baro_height_m]),
        )
        first = tel.index_at(float(self.t[0])) if len(self.t) else None
        if first:
            tel = Telemetry(tel.t_s[first:], tel.q_wxyz[first:], tel.baro_height_m[first:])
        self.tel = tel

    def advance(self, t_until: float) -> None:
        """Propagate over the IMU samples before `t_until` (math.inf: to the end).

        Per sample: propagate, then a baro update when one falls due, then a state log when
        one falls due. Between two baro updates the biases hold, so each such run of samples
        is one `propagate_many` with the state logs as its stops, logged together.
        """
        self._release(t_until)
        filt, t = self.filt, self.t
        if filt is None:
            return
        baro_dt = 1.0 / self.spec.baro_rate_hz if self.spec.baro_rate_hz else math.inf
        end = int(np.searchsorted(t, t_until, side="left"))  # samples before t_until
        logged: list[tuple[np.ndarray, Stops]] = []  # emitted together: nothing else is between
        while self.k + 1 < end:
            first = self.k + 1
            baro_at = max(first, int(np.searchsorted(t, self.next_baro, side="left")))
            last = min(baro_at, end - 1)
            stops, k = [], first - 1
            while True:  # at most one state per sample, as the per-sample loop logs them
                k = max(k + 1, int(np.searchsorted(t, self.next_state, side="left")))
                if k > last or (k == last and last == baro_at):
                    break  # a state at the baro sample is logged after the update
                stops.append(k - first)
                self.next_state += 1.0 / STATE_RATE_HZ
            rows = slice(first, last + 1)
            seen = filt.propagate_many(
                self.gyro[rows], self.accel[rows], t[rows] - t[first - 1 : last], stops
            )
            logged.append((t[first + np.asarray(stops, int)], seen))
            self.k = last
            if last == baro_at:
                self._baro(float(t[last]))
                self.next_baro += baro_dt
                if t[last] >= self.next_state:
                    logged.append((t[last : last + 1], filt.now()))
                    self.next_state += 1.0 / STATE_RATE_HZ
        if logged:
            self._states(np.concatenate([t for t, _ in logged]), Stops.join([s for _, s in logged]))

    def take(self, fix: Fix) -> None:
        """Start the filter from the fix, or fuse it (resetting after a long rejection)."""
        finite = bool(np.all(np.isfinite(fix.z_ne_m)))
        if self.filt is None:
            pose = pose_at(self.tel, fix.t_s) if finite else None
            if pose is None or not len(self.t):
                why = (
                    "non-finite fix"
                    if not finite
                    else "no telemetry at this time"
                    if pose is None
                    else "no IMU sample yet"
                )
                self._unused(fix, f"before the filter started: {why}")
                return
            self._start(fix, pose)
            return
        if self._fuse(fix):
            self.last_accepted = fix.t_s
        elif self.spec.reset_after_s and fix.t_s - self.last_accepted >= self.spec.reset_after_s:
            if finite:
                z = np.asarray(fix.z_ne_m, float)
                self.emit("eskf", "reset", t_s=fix.t_s, from_ne_m=self.filt.p[:2].copy(), to_ne_m=z)
                self.filt.reset_position(z, fix.sigma_m)
            self.last_accepted = fix.t_s

    def finish(self) -> None:
        """Run to the end of the IMU, judge its rate over all of it, record the baro updates."""
        self.advance(math.inf)
        self.imu.require_rate()
        if self.filt is not None:
            self.emit("eskf", "baro", sigma_m=self.spec.baro_sigma_m, **self.baro)

    def _start(self, fix: Fix, pose: Pose) -> None:
        self.imu.require_rate()
        spec = self.spec
        self.k = max(0, int(np.searchsorted(self.t, fix.t_s)) - 1)
        p0 = np.array([fix.z_ne_m[0], fix.z_ne_m[1], -pose.height_m])
        v0 = np.zeros(3)
        q0 = _yawed(pose.q_wxyz, spec.init_yaw_error_deg)
        told = InitialSigma()  # the IMU's bias uncertainty, scaled with its noise (a fault)
        sigma = InitialSigma(
            p_m=fix.sigma_m,
            height_m=spec.init_sigma_height_m,
            v_m_s=spec.init_sigma_v_m_s,
            tilt_rad=math.radians(spec.init_sigma_tilt_deg),
            yaw_rad=math.radians(spec.init_sigma_yaw_deg),
            accel_bias_m_s2=told.accel_bias_m_s2 * spec.imu_noise_scale,
            gyro_bias_rad_s=told.gyro_bias_rad_s * spec.imu_noise_scale,
        )
        self.filt = Eskf(p0, v0, q0, self.noise, sigma, gate_nis=spec.gate_nis)
        self.emit(
            "eskf",
            "init",
            t_s=fix.t_s,
            p_ned_m=p0,
            v_ned_m_s=v0,
            q_wxyz=q0,
            sigma={
                "p_ne_m": sigma.p_m,
                "height_m": sigma.height_m,
                "v_m_s": sigma.v_m_s,
                "tilt_deg": spec.init_sigma_tilt_deg,
                "yaw_deg": spec.init_sigma_yaw_deg,
                "accel_bias_m_s2": sigma.accel_bias_m_s2,
                "gyro_bias_deg_s": math.degrees(sigma.gyro_bias_rad_s),
            },
            sources={
                "p_ne": f"first finite fix ({fix.source})",
                "height": "baro (clip telemetry)",
                "attitude": "AHRS (clip telemetry)",
                "velocity": "zero",
            },
        )
        # the start fix is recorded as used (innovation zero: the filter is where it says)
        S = self.filt.P[0:2, 0:2] + np.eye(2) * fix.sigma_m**2
        self._fix_event(fix, np.zeros(2), S, 0.0, True, note="started the filter")
        t0 = self.t0 = float(self.t[self.k])
        self.last_accepted = fix.t_s
        self.next_baro = t0 + (1.0 / spec.baro_rate_hz if spec.baro_rate_hz else math.inf)
        self._state(t0)
        self.next_state = t0 + 1.0 / STATE_RATE_HZ

    def _fuse(self, fix: Fix) -> bool:
        started = time.perf_counter()
        result = self.filt.fix(np.asarray(fix.z_ne_m, float), fix.sigma_m)
        # One latency sample per fix: the update a fix costs the onboard filter.
        ms = (time.perf_counter() - started) * 1e3
        self.emit("latency", "sample", stage_name="eskf", ms=ms)
        self._fix_event(fix, result.innovation_m, result.S, result.nis, result.accepted)
        return result.accepted

    def _unused(self, fix: Fix, why: str) -> None:
        self._fix_event(fix, None, None, None, False, note=why)

    def _fix_event(self, fix: Fix, innovation_m, S, nis, accepted: bool, **extra) -> None:
        """The `eskf/fix` event: the fix as given and what the filter made of it."""
        self.emit(
            "eskf",
            "fix",
            t_s=fix.t_s,
            z_ne_m=list(fix.z_ne_m),
            sigma_m=fix.sigma_m,
            source=fix.source,
            innovation_m=innovation_m,
            S=S,
            nis=nis,
            accepted=accepted,
            **extra,
        )

    def _baro(self, t_s: float) -> None:
        pose = pose_at(self.tel, t_s)
        if pose is None:
            self.baro["missing"] += 1
        elif self.filt.height(pose.height_m, self.spec.baro_sigma_m):
            self.baro["updates"] += 1
        else:
            self.baro["rejected"] += 1

    def _state(self, t: float) -> None:
        self._states(np.array([t]), self.filt.now())

    def _states(self, t: np.ndarray, seen: Stops) -> None:
        """The `eskf/state` events for a run's stops, their figures and checks computed for
        all of them at once."""
        if not len(t):
            return
        p_hh = seen.P[:, 0:2, 0:2]
        eph = np.sqrt(np.maximum(p_hh[:, 0, 0] + p_hh[:, 1, 1], 0.0))
        down = seen.R[:, 2]  # world down in body axes; the attitude error is local (body) frame
        yaw_var = np.einsum("ki,kij,kj->k", down, seen.P[:, 6:9, 6:9], down)
        sigma_yaw = np.degrees(np.sqrt(np.maximum(yaw_var, 0.0)))
        numerical = numerical_problems(seen.P, seen.p)
        for i in range(len(t)):
            self.emit(
                "eskf",
                "state",
                t_s=float(t[i]),
                p_ned_m=seen.p[i],
                v_ned_m_s=seen.v[i],
                q_wxyz=matrix_to_quat(seen.R[i]),
                P_hh=p_hh[i],
                eph_m=float(eph[i]),
                sigma_yaw_deg=float(sigma_yaw[i]),
                numerical=numerical[i],
            )
