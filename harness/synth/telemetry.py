"""The synthetic flight-controller telemetry: AHRS attitude and baro height with their errors.

A magnetometer-aided AHRS holds roll and pitch to under a degree (accelerometer-levelled) and
heading to a few degrees (the magnetometer's declination, hard/soft-iron and installation
errors); a barometer reads height with a bias of a few metres (pressure reference, weather,
temperature) that wanders slowly, plus half a metre of noise. Each slow error is a constant
offset plus a first-order Gauss-Markov process; the figures in force go into the manifest.
"""

from __future__ import annotations

import numpy as np

from harness.synth.flight import Trajectory, euler_to_q_wxyz, kinematics

RATE_HZ = 50.0
# AHRS: roll/pitch white noise and a slow wander; heading a constant offset plus a slow wander
TILT_NOISE_DEG = 0.3
TILT_WANDER_DEG = 0.5
TILT_TAU_S = 20.0
HEADING_OFFSET_DEG = 2.0
HEADING_WANDER_DEG = 1.5
HEADING_TAU_S = 60.0
HEADING_NOISE_DEG = 0.3
# Baro: a constant bias, a slow drift, white noise
BARO_BIAS_M = 3.0
BARO_DRIFT_M = 1.0
BARO_TAU_S = 60.0
BARO_NOISE_M = 0.5


def telemetry_figures() -> dict[str, float]:
    """The error figures the stand-in's telemetry is drawn with (sigmas), for the manifest."""
    return {
        "rate_hz": RATE_HZ,
        "tilt_noise_deg": TILT_NOISE_DEG,
        "tilt_wander_deg": TILT_WANDER_DEG,
        "tilt_wander_tau_s": TILT_TAU_S,
        "heading_offset_deg": HEADING_OFFSET_DEG,
        "heading_wander_deg": HEADING_WANDER_DEG,
        "heading_wander_tau_s": HEADING_TAU_S,
        "heading_noise_deg": HEADING_NOISE_DEG,
        "baro_bias_m": BARO_BIAS_M,
        "baro_drift_m": BARO_DRIFT_M,
        "baro_drift_tau_s": BARO_TAU_S,
        "baro_noise_m": BARO_NOISE_M,
        "baro_reference": "height above the origin's altitude (take-off ground level)",
    }


def gauss_markov(
    rng: np.random.Generator, n: int, dt: float, sigma: float, tau_s: float
) -> np.ndarray:
    """A stationary first-order Gauss-Markov sequence: steady-state `sigma`, correlation `tau_s`."""
    phi = np.exp(-dt / tau_s)
    drive = rng.normal(0.0, sigma * np.sqrt(1 - phi * phi), n)
    out = np.empty(n)
    out[0] = rng.normal(0.0, sigma)
    for k in range(1, n):
        out[k] = phi * out[k - 1] + drive[k]
    return out


def make_telemetry(traj: Trajectory, duration_s: float, rng: np.random.Generator) -> np.ndarray:
    """(N, 6) rows `t_s, q_w, q_x, q_y, q_z, baro_height_m` at `RATE_HZ` (manifest columns)."""
    n = int(np.floor(duration_s * RATE_HZ)) + 1
    t = np.arange(n) / RATE_HZ
    dt = 1.0 / RATE_HZ
    kin = kinematics(traj, t)

    def tilt() -> np.ndarray:
        wander = gauss_markov(rng, n, dt, np.radians(TILT_WANDER_DEG), TILT_TAU_S)
        return wander + rng.normal(0.0, np.radians(TILT_NOISE_DEG), n)

    roll_err, pitch_err = tilt(), tilt()
    heading_err = (
        rng.normal(0.0, np.radians(HEADING_OFFSET_DEG))
        + gauss_markov(rng, n, dt, np.radians(HEADING_WANDER_DEG), HEADING_TAU_S)
        + rng.normal(0.0, np.radians(HEADING_NOISE_DEG), n)
    )
    euler = kin.euler_rad + np.column_stack([roll_err, pitch_err, heading_err])
    baro = (
        -kin.p_ned_m[:, 2]
        + rng.normal(0.0, BARO_BIAS_M)
        + gauss_markov(rng, n, dt, BARO_DRIFT_M, BARO_TAU_S)
        + rng.normal(0.0, BARO_NOISE_M, n)
    )
    return np.column_stack([t, euler_to_q_wxyz(euler), baro])
