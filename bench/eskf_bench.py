"""ESKF speed: the filter over the 60 s, 200 Hz stand-in IMU, in x real time, beside a minimal
plain-numpy filter of the same math (no filterpy, no symmetrisation) in the same run.

Rows: the reference (covariance predicted every sample); ours with the covariance predicted
every sample (the same math as the reference); ours at its default (covariance predicted every
4 samples with the composed transition, nominal state every sample); and the ESKF stage's
replay as scenarios run it (1 Hz oracle fixes, 10 Hz state events to a no-op sink). Pin to one
core for the target figure:

    taskset -c 0 python bench/eskf_bench.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import time
from functools import partial
from pathlib import Path

import numpy as np

from harness.clip import ClipRef, Segment, load_clip
from harness.reference.eskf.filter import Eskf, rotvec_to_matrix, skew
from harness.reference.eskf.stage import noise_from_manifest, replay
from harness.run.stage import Fix
from harness.scenario.model import EskfSpec
from harness.synth.spec import SynthSpec


def plain_numpy(clip, noise) -> None:
    """The same propagation written as bare numpy: the reference for the overhead we add."""
    p, v = clip.truth.p_ned_m[0].copy(), clip.truth.v_ned_m_s[0].copy()
    R, P = np.eye(3), np.eye(15)
    g = np.array([0.0, 0.0, 9.81])
    t, gyro, acc = clip.imu.t_s, clip.imu.gyro_rad_s, clip.imu.accel_m_s2
    for k in range(1, len(t)):
        dt = t[k] - t[k - 1]
        a = R @ acc[k] + g
        F = np.eye(15)
        F[0:3, 3:6] = np.eye(3) * dt
        F[3:6, 6:9] = -R @ skew(acc[k]) * dt
        F[3:6, 9:12] = -R * dt
        dR = rotvec_to_matrix(gyro[k] * dt)
        F[6:9, 6:9] = dR.T
        F[6:9, 12:15] = -np.eye(3) * dt
        Q = np.diag(
            [0.0] * 3
            + [noise.accel_noise**2 * dt] * 3
            + [noise.gyro_noise**2 * dt] * 3
            + [noise.accel_bias_rw**2 * dt] * 3
            + [noise.gyro_bias_rw**2 * dt] * 3
        )
        p = p + v * dt + 0.5 * a * dt * dt
        v = v + a * dt
        R = R @ dR
        P = F @ P @ F.T + Q


def ours(clip, noise, cov_every: int) -> None:
    f = Eskf(
        clip.truth.p_ned_m[0],
        clip.truth.v_ned_m_s[0],
        clip.truth.q_wxyz[0],
        noise,
        cov_every=cov_every,
    )
    t, gyro, acc = clip.imu.t_s, clip.imu.gyro_rad_s, clip.imu.accel_m_s2
    for k in range(1, len(t)):
        f.propagate(gyro[k], acc[k], t[k] - t[k - 1])
        if k % 200 == 0:  # a 1 Hz fix, as the scenarios feed it
            f.fix(clip.truth.p_ned_m[k // 2, :2], 25.0)


def stage(clip, noise) -> None:
    truth = clip.truth
    fixes = [
        Fix(float(t), tuple(truth.p_ned_m[truth.index_at(t), :2].tolist()), 25.0, "oracle")
        for t in np.arange(1.0, clip.duration_s, 1.0)
    ]
    replay(clip, fixes, EskfSpec(), lambda *args, **fields: None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    clip = load_clip(
        ClipRef(synth=SynthSpec(preset="derkachi-60s", seed=7)), Segment(), Path(".cache")
    )
    noise = noise_from_manifest(clip.manifest)
    span = float(clip.imu.t_s[-1] - clip.imu.t_s[0])
    print(f"clip: {span:.0f} s, {len(clip.imu.t_s)} IMU samples")
    rows = (
        ("plain numpy (reference)", plain_numpy),
        ("Eskf, P every sample", partial(ours, cov_every=1)),
        ("Eskf, P every 4 samples", partial(ours, cov_every=4)),
        ("ESKF stage replay", stage),
    )
    for name, fn in rows:
        best = min(_timed(fn, clip, noise) for _ in range(args.repeat))
        print(f"{name:<26} {best:6.2f} s  {span / best:6.1f} x real time")


def _timed(fn, clip, noise) -> float:
    start = time.perf_counter()
    fn(clip, noise)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
