"""A smooth flight with exact derivatives: sums of sinusoids for position, attitude from the motion.

Position is a closed-form function of time, so velocity, acceleration and jerk are exact; yaw
follows the ground track, roll is the coordinated-turn bank and pitch leans into forward
acceleration, each with an exact rate, so the IMU made from it is consistent with the truth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.spatial.transform import Rotation

GRAVITY_M_S2 = 9.81
MIN_SPEED_M_S = 0.5


@dataclass(frozen=True)
class Trajectory:
    """Each axis (N, E, D) is offset + sum_k amp_k * sin(omega_k * t + phase_k)."""

    offset: np.ndarray  # (3,)
    amp: np.ndarray  # (3, K)
    omega: np.ndarray  # (3, K)
    phase: np.ndarray  # (3, K)

    def derivative(self, t: np.ndarray, order: int) -> np.ndarray:
        """d^order p / dt^order at times t, shape (N, 3)."""
        t = np.asarray(t, dtype=np.float64)[:, None, None]
        terms = (
            self.amp * self.omega**order * np.sin(self.omega * t + self.phase + order * np.pi / 2)
        )
        out = terms.sum(axis=2)
        return out + self.offset if order == 0 else out


def make_trajectory(
    rng: np.random.Generator, speed_m_s: float, altitude_agl_m: float
) -> Trajectory:
    """A wide turn (radius ~500 m) with lateral weaves, starting over the origin, heading random."""
    radius = rng.uniform(450.0, 600.0)
    turn = rng.choice([-1.0, 1.0])  # right or left turn; the heading at t = 0 is turn * h0
    w0, h0 = speed_m_s / radius, rng.uniform(0, 2 * np.pi)
    w1, w2 = rng.uniform(0.10, 0.16), rng.uniform(0.05, 0.08)
    a1, a2 = rng.uniform(15.0, 25.0), rng.uniform(20.0, 35.0)
    p1, p2, p3 = rng.uniform(0, 2 * np.pi, 3)
    # N = R sin(w0 t + h0) + weave, E = turn * R sin(w0 t + h0 - pi/2) + weave, D = gentle climb
    amp = np.array([[radius, a1, 0.0], [turn * radius, a2, 0.0], [4.0, 0.0, 0.0]])
    omega = np.array([[w0, w1, 1.0], [w0, w2, 1.0], [0.05, 1.0, 1.0]])
    phase = np.array([[h0, p1, 0.0], [h0 - np.pi / 2, p2, 0.0], [p3, 0.0, 0.0]])
    traj = Trajectory(np.zeros(3), amp, omega, phase)
    start = traj.derivative(np.zeros(1), 0)[0]
    return Trajectory(
        np.array([-start[0], -start[1], -altitude_agl_m - start[2]]), amp, omega, phase
    )


@dataclass(frozen=True)
class Kinematics:
    """Exact truth at times t: NED position/velocity/acceleration, attitude and body rates."""

    t_s: np.ndarray
    p_ned_m: np.ndarray
    v_ned_m_s: np.ndarray
    a_ned_m_s2: np.ndarray
    euler_rad: np.ndarray  # (N, 3) roll, pitch, yaw (ZYX, body FRD -> NED)
    gyro_rad_s: np.ndarray  # body rates, FRD
    accel_m_s2: np.ndarray  # specific force, FRD

    @property
    def q_wxyz(self) -> np.ndarray:
        return euler_to_q_wxyz(self.euler_rad)


def euler_to_q_wxyz(euler_rad: np.ndarray) -> np.ndarray:
    rot = Rotation.from_euler("ZYX", euler_rad[:, ::-1])
    q = rot.as_quat(scalar_first=True)
    return q * np.where(q[:, :1] < 0, -1.0, 1.0)


def kinematics(traj: Trajectory, t_s: np.ndarray) -> Kinematics:
    p, v, a, j = (traj.derivative(t_s, k) for k in range(4))
    vn, ve, an, ae, jn, je = v[:, 0], v[:, 1], a[:, 0], a[:, 1], j[:, 0], j[:, 1]
    # Below walking pace the heading of the track is noise; the floor keeps yaw rates finite for
    # tracks that hover (recorded ones); the stand-in never flies that slowly, so it is unchanged.
    h2 = np.maximum(vn**2 + ve**2, MIN_SPEED_M_S**2)
    vh = np.sqrt(h2)
    yaw = np.arctan2(ve, vn)
    cross = vn * ae - ve * an
    dot = vn * an + ve * ae
    yaw_rate = cross / h2
    yaw_acc = ((vn * je - ve * jn) * h2 - cross * 2 * dot) / h2**2
    vh_dot = dot / vh
    a_lat, a_lat_dot = vh * yaw_rate, vh_dot * yaw_rate + vh * yaw_acc
    a_fwd = dot / vh
    a_fwd_dot = ((an**2 + ae**2 + vn * jn + ve * je) * vh - dot * vh_dot) / h2
    g = GRAVITY_M_S2
    roll = np.arctan(a_lat / g)
    roll_rate = (a_lat_dot / g) / (1 + (a_lat / g) ** 2)
    pitch = -np.arctan(a_fwd / g)
    pitch_rate = -(a_fwd_dot / g) / (1 + (a_fwd / g) ** 2)
    sr, cr, sp, cp = np.sin(roll), np.cos(roll), np.sin(pitch), np.cos(pitch)
    gyro = np.stack(
        [
            roll_rate - yaw_rate * sp,
            pitch_rate * cr + yaw_rate * cp * sr,
            yaw_rate * cp * cr - pitch_rate * sr,
        ],
        axis=1,
    )
    euler = np.stack([roll, pitch, yaw], axis=1)
    r_wb = Rotation.from_euler("ZYX", euler[:, ::-1]).as_matrix()
    f_world = a - np.array([0.0, 0.0, g])
    accel = np.einsum("nji,nj->ni", r_wb, f_world)  # R^T f
    return Kinematics(t_s, p, v, a, euler, gyro, accel)
