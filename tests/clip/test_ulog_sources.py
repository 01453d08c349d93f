"""PX4 ULog: IMU topic choice, barometer stream, truth from a named source, spans respected."""

from pathlib import Path

import numpy as np
import pytest
from pyulog import ULog

from harness.clip import ulog_topics
from harness.clip.bundle import read_bundle, read_table
from harness.clip.ulog import import_ulog
from harness.clip.ulog_imu import best_imu
from harness.commands.main import main
from harness.errors import ClipError

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "px4"
REAL = FIX / "sample_log_small.ulg"
SITL = FIX / "sample_px4_events.ulg"


def test_gnss_truth_stays_inside_every_topic_span_and_names_its_source(tmp_path):
    clip = read_bundle(import_ulog(REAL, tmp_path / "b"))
    prov = clip.manifest["provenance"]
    assert prov["truth_source"] == "gnss" and prov["truth_topic"] == "vehicle_gps_position"
    assert prov["imu_topic"] == "sensor_combined" and clip.manifest["ground_truth"] == "gnss"
    att = ulog_topics.attitude(ULog(str(REAL), ["vehicle_attitude", "sensor_combined"]))
    imu = best_imu(ULog(str(REAL), ["sensor_combined"])).series
    t_abs = clip.truth.t_s * 1e6 + imu.t_us[0]
    assert t_abs.min() >= att.t_us[0] and t_abs.max() <= min(att.t_us[-1], imu.t_us[-1])
    assert np.isfinite(clip.truth.q_wxyz).all() and np.isfinite(clip.truth.p_ned_m).all()


def test_barometer_becomes_a_stream(tmp_path):
    folder = import_ulog(REAL, tmp_path / "b")
    clip = read_bundle(folder)
    entry = clip.manifest["streams"]["baro"]
    baro = read_table(folder, entry, salvage=False)
    assert entry["columns"] == ["t_s", "baro_alt_m"] and len(baro) == entry["samples"] > 100
    assert 15 < entry["rate_hz"] < 25 and np.ptp(baro[:, 1]) < 5  # a bench log: it sits still
    assert clip.manifest["provenance"]["baro_topic"] == "vehicle_air_data"


def test_vehicle_imu_is_read_when_sensor_combined_is_absent():
    series = best_imu(ULog(str(REAL), ["vehicle_imu"])).series
    assert series.topic == "vehicle_imu[0]" and len(series.t_us) > 5
    assert abs(np.median(series.values[:, 5]) + 9.8) < 0.5  # FRD specific force on the bench
    assert np.abs(series.values[:, :3]).max() < 0.5  # rad/s: delta angle over its dt


def test_truth_from_the_autopilot_estimate(tmp_path):
    clip = read_bundle(import_ulog(SITL, tmp_path / "e", truth_source="estimate"))
    prov = clip.manifest["provenance"]
    assert prov["truth_topic"] == "vehicle_global_position+vehicle_local_position"
    assert clip.manifest["ground_truth"] == "autopilot-estimate"
    assert clip.origin.lat_deg == pytest.approx(47.3977, abs=1e-3)
    gnss = read_bundle(import_ulog(SITL, tmp_path / "g", truth_source="gnss"))
    assert gnss.manifest["provenance"]["truth_topic"] == "vehicle_gps_position"
    with pytest.raises(ClipError, match=r"sample_log_small.ulg: truth_source 'estimate' needs"):
        import_ulog(REAL, tmp_path / "x", truth_source="estimate")


def test_cli_takes_the_truth_source(tmp_path, capsys):
    out = tmp_path / "c"
    assert (
        main(["clip", "import-ulog", str(SITL), "-o", str(out), "--truth-source", "estimate"]) == 0
    )
    assert read_bundle(out).manifest["provenance"]["truth_source"] == "estimate"
    assert main(["clip", "import-ulog", str(tmp_path), "-o", str(tmp_path / "d")]) == 1
    assert "is a directory" in capsys.readouterr().err
