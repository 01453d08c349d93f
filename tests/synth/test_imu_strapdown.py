"""The noise-free synthetic IMU integrated by a plain strapdown stays on the truth for 60 s."""

import numpy as np
from scipy.spatial.transform import Rotation

from harness.synth.flight import GRAVITY_M_S2, kinematics, make_trajectory
from harness.synth.imu import make_imu


def test_strapdown_follows_truth_for_60s():
    traj = make_trajectory(np.random.default_rng([5, 1]), 15.0, 300.0)
    imu = make_imu(traj, 60.0, 200.0, 0.0, 1e-4, [], np.random.default_rng(0))
    k0 = kinematics(traj, imu.t_s[:1])
    rot = Rotation.from_quat(k0.q_wxyz[0], scalar_first=True)
    p, v = k0.p_ned_m[0].copy(), k0.v_ned_m_s[0].copy()
    g = np.array([0.0, 0.0, GRAVITY_M_S2])
    for i in range(len(imu.t_s) - 1):
        dt = imu.t_s[i + 1] - imu.t_s[i]  # per-sample dt: the stamps are jittered
        a0 = rot.apply(imu.accel_m_s2[i]) + g
        rot = rot * Rotation.from_rotvec(0.5 * (imu.gyro_rad_s[i] + imu.gyro_rad_s[i + 1]) * dt)
        a1 = rot.apply(imu.accel_m_s2[i + 1]) + g
        p += v * dt + (2 * a0 + a1) / 6 * dt**2
        v += 0.5 * (a0 + a1) * dt
    end = kinematics(traj, imu.t_s[-1:])
    att_err = Rotation.from_quat(end.q_wxyz[0], scalar_first=True).inv() * rot
    assert np.degrees(att_err.magnitude()) < 0.01
    assert np.linalg.norm(v - end.v_ned_m_s[0]) < 0.05
    assert np.linalg.norm(p - end.p_ned_m[0]) < 1.0


def test_imu_at_rest_convention_and_noise_figures():
    traj = make_trajectory(np.random.default_rng([1, 1]), 15.0, 300.0)
    imu = make_imu(traj, 10.0, 200.0, 1.0, 1e-4, [], np.random.default_rng(1))
    assert abs(np.median(imu.accel_m_s2[:, 2]) + GRAVITY_M_S2) < 0.3  # FRD specific force
    dt = np.diff(imu.t_s)
    assert (dt > 0).all() and dt.std() > 1e-5  # jittered, still monotonic


def test_white_noise_matches_the_stated_density():
    from harness.synth.imu import ACCEL_NOISE, GYRO_NOISE

    traj = make_trajectory(np.random.default_rng([2, 1]), 15.0, 300.0)
    imu = make_imu(traj, 60.0, 200.0, 1.0, 0.0, [], np.random.default_rng(2))
    exact = kinematics(traj, imu.t_s)
    for meas, true, density in (
        (imu.gyro_rad_s, exact.gyro_rad_s, GYRO_NOISE),
        (imu.accel_m_s2, exact.accel_m_s2, ACCEL_NOISE),
    ):
        # first differences remove the slow bias; white noise adds twice its variance
        sigma = np.diff(meas - true, axis=0).std(axis=0) / np.sqrt(2)
        assert np.allclose(sigma, density * np.sqrt(200.0), rtol=0.05), (sigma, density)
