"""The synthetic IMU: exact specific force and rate at jittered instants, plus noise and biases."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.synth.flight import Trajectory, kinematics
from harness.synth.spec import ImuBiasStep

# 5x an ADIS16448-class datasheet (shared/reference/eskf-gate.md): densities per sqrt(Hz)
GYRO_NOISE = 5 * 1.9e-4  # rad/s/sqrt(Hz)
GYRO_BIAS_RW = 5 * 1.9393e-5  # rad/s^2/sqrt(Hz)
ACCEL_NOISE = 5 * 1.8e-3  # m/s^2/sqrt(Hz)
ACCEL_BIAS_RW = 5 * 3.0e-4  # m/s^3/sqrt(Hz)
GYRO_TURN_ON = np.radians(0.1)  # rad/s, per axis sigma
ACCEL_TURN_ON = 0.05  # m/s^2, per axis sigma


def noise_figures(scale: float) -> dict[str, float]:
    """The densities and turn-on sigmas in force at `scale`, for the manifest (ESKF tuning)."""
    return {
        "gyro_noise_rad_s_sqrt_hz": GYRO_NOISE * scale,
        "gyro_bias_rw_rad_s2_sqrt_hz": GYRO_BIAS_RW * scale,
        "gyro_turn_on_rad_s": float(GYRO_TURN_ON) * scale,
        "accel_noise_m_s2_sqrt_hz": ACCEL_NOISE * scale,
        "accel_bias_rw_m_s3_sqrt_hz": ACCEL_BIAS_RW * scale,
        "accel_turn_on_m_s2": ACCEL_TURN_ON * scale,
    }


@dataclass(frozen=True)
class ImuSamples:
    t_s: np.ndarray
    gyro_rad_s: np.ndarray
    accel_m_s2: np.ndarray
    gyro_bias_rad_s: np.ndarray  # the true biases, kept for the manifest's fault record and tests
    accel_bias_m_s2: np.ndarray


def make_imu(
    traj: Trajectory,
    duration_s: float,
    rate_hz: float,
    noise_scale: float,
    jitter_s: float,
    steps: list[ImuBiasStep],
    rng: np.random.Generator,
) -> ImuSamples:
    """Samples are taken at jittered instants and stamped with those instants (use each dt)."""
    n = int(np.floor(duration_s * rate_hz)) + 1
    t = np.arange(n) / rate_hz
    t[1:-1] += np.clip(rng.normal(0, jitter_s, n - 2), -0.4 / rate_hz, 0.4 / rate_hz)
    kin = kinematics(traj, t)
    dt = np.diff(t, prepend=t[0])[:, None]
    s = noise_scale

    def bias(turn_on: float, rw: float) -> np.ndarray:
        walk = np.cumsum(rng.normal(0, 1, (n, 3)) * rw * np.sqrt(dt), axis=0)
        return rng.normal(0, turn_on, 3) * s + walk * s

    b_g, b_a = bias(GYRO_TURN_ON, GYRO_BIAS_RW), bias(ACCEL_TURN_ON, ACCEL_BIAS_RW)
    for step in steps:
        after = t >= step.at_s
        b_g[after] += step.gyro_rad_s
        b_a[after] += step.accel_m_s2
    sigma = np.sqrt(rate_hz)  # density -> per-sample sigma at the nominal rate
    gyro = kin.gyro_rad_s + b_g + rng.normal(0, 1, (n, 3)) * GYRO_NOISE * sigma * s
    accel = kin.accel_m_s2 + b_a + rng.normal(0, 1, (n, 3)) * ACCEL_NOISE * sigma * s
    return ImuSamples(t, gyro, accel, b_g, b_a)
