"""The telemetry stream: the stand-in's AHRS and baro errors as stated, seeded, cut, optional."""

import json
import shutil

import numpy as np
from scipy.spatial.transform import Rotation

from harness.clip.bundle import read_bundle
from harness.synth.flight import make_trajectory
from harness.synth.telemetry import make_telemetry


def test_stand_in_telemetry_has_the_stated_errors(short_bundle):
    clip = read_bundle(short_bundle)
    tel, truth = clip.telemetry, clip.truth
    figures = clip.manifest["telemetry"]
    assert clip.manifest["streams"]["telemetry"]["rate_hz"] == figures["rate_hz"] == 50.0
    k = truth.index_at(tel.t_s)
    assert np.max(np.abs(truth.t_s[k] - tel.t_s)) < 1e-9  # 100 Hz truth holds every 50 Hz tick
    err = Rotation.from_quat(truth.q_wxyz[k], scalar_first=True).inv() * Rotation.from_quat(
        tel.q_wxyz, scalar_first=True
    )
    yaw, pitch, roll = err.as_euler("ZYX", degrees=True).T
    for tilt in (roll, pitch):  # white noise 0.3 deg on a wander of 0.5 deg
        assert 0.15 < np.std(np.diff(tilt)) / np.sqrt(2) < 0.5 and np.max(np.abs(tilt)) < 3
    assert 0.5 < np.max(np.abs(yaw)) < 12  # a few degrees of heading error, never zero
    baro_err = tel.baro_height_m + truth.p_ned_m[k, 2]
    assert 0.3 < np.std(np.diff(baro_err)) / np.sqrt(2) < 0.8  # the 0.5 m white noise
    assert np.max(np.abs(baro_err)) < 20


def test_telemetry_is_a_function_of_the_seed():
    traj = make_trajectory(np.random.default_rng([4, 1]), 15.0, 300.0)
    a, b, c = (make_telemetry(traj, 5.0, np.random.default_rng(s)) for s in ([4, 4], [4, 4], [5]))
    assert a.shape == (251, 6) and np.array_equal(a, b) and not np.array_equal(a[:, 1:], c[:, 1:])


def test_a_bundle_without_telemetry_loads_with_none(short_bundle, tmp_path):
    copy = tmp_path / "bundle"
    shutil.copytree(short_bundle, copy)
    m = json.loads((copy / "manifest.json").read_text())
    m["streams"]["telemetry"] = None
    (copy / "manifest.json").write_text(json.dumps(m))
    (copy / "telemetry.npy").unlink()
    clip = read_bundle(copy, verify=False)
    assert clip.telemetry is None and clip.segment(1.0, 2.0).telemetry is None
