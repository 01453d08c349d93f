"""The telemetry stream the real-log readers write: PX4 ULog and DJI SRT, from real fixtures."""

from pathlib import Path

import numpy as np
import pytest
from pyulog import ULog
from scipy.spatial.transform import Rotation

from harness.clip import ulog_topics
from harness.clip.bundle import read_bundle
from harness.clip.srt import parse_srt
from harness.clip.srt_import import import_dji
from harness.clip.ulog import import_ulog
from harness.clip.ulog_imu import best_imu

FIX = Path(__file__).resolve().parents[2] / "fixtures"
ULG = FIX / "px4" / "sample_log_small.ulg"
P4RTK = FIX / "dji" / "real" / "p4_rtk.SRT"


def _yaw_deg(q_wxyz: np.ndarray) -> np.ndarray:
    return Rotation.from_quat(q_wxyz, scalar_first=True).as_euler("ZYX", degrees=True)[:, 0]


def test_px4_telemetry_is_the_autopilots_ahrs_and_baro_inside_both_spans(tmp_path):
    clip = read_bundle(import_ulog(ULG, tmp_path / "b"))
    tel, prov = clip.telemetry, clip.manifest["provenance"]
    assert prov["telemetry_attitude_topic"] == "vehicle_attitude"
    assert prov["telemetry_baro_topic"] == "vehicle_air_data"
    assert len(tel.t_s) > 1000 and np.isfinite(tel.q_wxyz).all()
    assert np.isfinite(tel.baro_height_m).all()
    ulog = ULog(str(ULG), ulog_topics.TOPICS)
    att, baro, imu = ulog_topics.attitude(ulog), ulog_topics.baro(ulog), best_imu(ulog).series
    t_us = imu.t_us[0] + tel.t_s * 1e6
    lo = max(att.t_us[0], baro.t_us[0], imu.t_us[0])
    hi = min(att.t_us[-1], baro.t_us[-1], imu.t_us[-1])
    assert t_us.min() >= lo - 1 and t_us.max() <= hi + 1  # never outside a topic's span
    k = np.searchsorted(att.t_us, t_us - 1)  # rows sit on vehicle_attitude's own stamps
    assert np.max(np.abs(att.t_us[k] - t_us)) < 2
    q = att.values[k] * np.sign(att.values[k, :1])
    assert np.allclose(tel.q_wxyz, q / np.linalg.norm(q, axis=1, keepdims=True), atol=1e-6)
    # baro height: baro_alt_meter minus its value at the truth origin's instant
    t_origin = imu.t_us[0] + clip.truth.t_s[0] * 1e6
    ref = np.interp(t_origin, baro.t_us, baro.values[:, 0])
    assert prov["telemetry_baro_origin_alt_m"] == pytest.approx(ref)
    want = np.interp(t_us, baro.t_us, baro.values[:, 0]) - ref
    assert np.allclose(tel.baro_height_m, want, atol=1e-4)
    assert np.max(np.abs(tel.baro_height_m)) < 5  # a bench log: the board sat still


def test_dji_srt_alone_has_its_height_above_take_off_and_its_own_attitude(tmp_path):
    track = parse_srt(P4RTK)
    clip = read_bundle(import_dji(None, P4RTK, tmp_path / "b"))
    tel = clip.telemetry
    assert clip.manifest["provenance"]["height_field"] == "H"
    assert clip.origin.alt_m == 0.0  # the take-off (home point) level in the H datum
    assert np.allclose(tel.baro_height_m, track.height_m)
    assert tel.baro_height_m[0] == pytest.approx(85.8)
    assert clip.truth.p_ned_m[0, 2] == pytest.approx(-85.8, abs=1e-6)
    assert "F.PRY" in clip.manifest["provenance"]["telemetry_attitude"]
    assert "G.PRY" in clip.manifest["provenance"]["camera_attitude"]  # the gimbal: the camera's
    yaw = _yaw_deg(tel.q_wxyz)
    assert yaw[0] == pytest.approx(110.1, abs=1e-6)  # F.PRY (2.7, -7.0, 110.1) in cue 1
    pitch, roll = Rotation.from_quat(tel.q_wxyz[:1], scalar_first=True).as_euler("ZYX", True)[0, 1:]
    assert pitch == pytest.approx(2.7, abs=1e-6) and roll == pytest.approx(-7.0, abs=1e-6)


def test_dji_srt_without_attitude_writes_nan_attitude_and_its_height(tmp_path):
    srt = FIX / "dji" / "real" / "mavic_pro.SRT"
    clip = read_bundle(import_dji(None, srt, tmp_path / "b"))
    tel = clip.telemetry
    assert np.isnan(tel.q_wxyz).all() and np.isfinite(tel.baro_height_m).all()
    assert "no drone attitude" in clip.manifest["provenance"]["telemetry_attitude"]


def test_dji_simulated_imu_gets_a_simulated_ahrs_consistent_with_it(tmp_path):
    track = parse_srt(P4RTK)
    clip = read_bundle(import_dji(None, P4RTK, tmp_path / "b", simulate_imu=True))
    tel, truth, manifest = clip.telemetry, clip.truth, clip.manifest
    assert manifest["imu_source"] == "simulated-from-track"
    assert manifest["telemetry"]["attitude_source"] == "simulated-from-track"
    assert manifest["telemetry"]["heading_offset_deg"] == 2.0
    note = manifest["provenance"]["telemetry_attitude"]
    assert "SIMULATED" in note and "own drone attitude is not used" in note
    assert np.isfinite(tel.q_wxyz).all() and np.isfinite(tel.baro_height_m).all()
    assert tel.t_s[0] >= 0 and tel.t_s[-1] <= track.t_s[-1] - track.t_s[0] + 1e-9
    # the real height, interpolated onto the 50 Hz clock
    assert np.allclose(
        tel.baro_height_m, np.interp(tel.t_s, track.t_s - track.t_s[0], track.height_m)
    )
    # heading within the stated AHRS errors of the simulated (track-aligned) truth attitude
    k = truth.index_at(tel.t_s)
    d_yaw = (_yaw_deg(tel.q_wxyz) - _yaw_deg(truth.q_wxyz[k]) + 180) % 360 - 180
    assert np.max(np.abs(d_yaw)) < 15
    assert np.mean(np.abs(d_yaw)) > 0.05  # noisy: not the truth attitude copied
