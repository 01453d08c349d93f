"""A simulated IMU and attitude for a recording that has a position track but no IMU (DJI SRT).

The track is smoothed by a quintic spline per NED axis (weights from the position
quantisation of the file); the IMU and attitude follow from it as for the synthetic stand-in
(yaw along the track, coordinated-turn roll, pitch into forward acceleration; the stand-in's
noise and bias model). A clip made this way replays a real trajectory's shape and timing; it
does not test a real IMU, and its manifest says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TRUTH_RATE_HZ = 10.0


@dataclass(frozen=True)
class SplineTrack:
    """The smoothed track: derivative(t, k) as harness.synth.flight.kinematics expects."""

    splines: tuple

    def derivative(self, t: np.ndarray, order: int) -> np.ndarray:
        t = np.asarray(t, dtype=np.float64)
        return np.column_stack([s.derivative(order)(t) if order else s(t) for s in self.splines])


def smooth_track(t_s: np.ndarray, p_ned_m: np.ndarray, sigma_m: float) -> SplineTrack:
    from scipy.interpolate import UnivariateSpline

    if len(t_s) < 8:
        raise ValueError(f"{len(t_s)} positions; an IMU needs a track of at least 8")
    smooth = len(t_s) * sigma_m**2
    return SplineTrack(tuple(UnivariateSpline(t_s, p_ned_m[:, k], k=5, s=smooth) for k in range(3)))


def simulate(
    t_s: np.ndarray, p_ned_m: np.ndarray, sigma_m: float, rate_hz: float = 100.0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, dict]:
    """(imu table (N,7), truth table (M,11) at 10 Hz, manifest imu_noise block), from t = 0."""
    from harness.synth.flight import kinematics
    from harness.synth.imu import make_imu, noise_figures

    track = smooth_track(t_s, p_ned_m, sigma_m)
    duration = float(t_s[-1])
    imu = make_imu(track, duration, rate_hz, 1.0, 0.0, [], np.random.default_rng(seed))
    tt = np.arange(0.0, duration + 1e-9, 1.0 / TRUTH_RATE_HZ)
    kin = kinematics(track, tt)
    truth = np.column_stack([tt, kin.p_ned_m, kin.v_ned_m_s, kin.q_wxyz])
    table = np.column_stack([imu.t_s, imu.gyro_rad_s, imu.accel_m_s2])
    return table, truth, noise_figures(1.0)


def simulate_ahrs(
    t_s: np.ndarray, p_ned_m: np.ndarray, sigma_m: float, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, dict]:
    """(t_s, q_wxyz (N,4), figures) of an AHRS simulated on the same smoothed track as
    `simulate`'s IMU (yaw along track, coordinated-turn roll), with the stand-in's AHRS errors
    (harness.synth.telemetry: tilt noise + wander, heading offset + wander + noise), 50 Hz."""
    from harness.synth.telemetry import make_telemetry, telemetry_figures

    track = smooth_track(t_s, p_ned_m, sigma_m)
    tab = make_telemetry(track, float(t_s[-1]), np.random.default_rng([seed, 4]))
    figures = {k: v for k, v in telemetry_figures().items() if not k.startswith("baro")}
    return tab[:, 0], tab[:, 1:5], figures
