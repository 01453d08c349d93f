"""PX4 ULog IMU: the fastest topic the log holds, a too-slow IMU refused naming it, dropouts.

The slow and gappy logs are real logs edited with pyulog (its reader and `write_ulog`): the
PX4 SITL log flies from 16.7 s to 27.8 s, the CubeOrange log is real hardware.
"""

from pathlib import Path

import numpy as np
import pytest
from pyulog import ULog

from harness.clip import ulog_topics
from harness.clip.bundle import read_bundle
from harness.clip.ulog import import_ulog
from harness.clip.ulog_imu import best_imu
from harness.commands.main import main
from harness.errors import ClipError

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "px4"
REAL = FIX / "sample_log_small.ulg"
SITL = FIX / "sample_px4_events.ulg"


def _edited(src: Path, out: Path, keep) -> Path:
    """`src` with sensor_combined rows kept where keep(times [s from the log start]) holds."""
    ulog = ULog(str(src), [*ulog_topics.TOPICS, "vehicle_land_detected"])
    data = ulog.get_dataset("sensor_combined").data
    mask = keep((data["timestamp"] - ulog.start_timestamp) / 1e6, np.arange(len(data["timestamp"])))
    for name in data:
        data[name] = data[name][mask]
    ulog.write_ulog(str(out))
    return out


def test_the_fastest_imu_topic_is_taken_and_every_candidate_named():
    imu = best_imu(ULog(str(REAL), ulog_topics.TOPICS))
    assert imu.series.topic == "sensor_combined" and 190 < imu.rate_hz < 210
    assert set(imu.candidates) == {
        "sensor_combined",
        *(f"vehicle_imu[{i}]" for i in range(3)),
        *(f"sensor_gyro[{i}]+sensor_accel[{i}]" for i in range(3)),
    }
    raw = best_imu(ULog(str(REAL), ["sensor_gyro", "sensor_accel"]))
    assert raw.series.topic == "sensor_gyro[0]+sensor_accel[0]" and raw.rate_hz == pytest.approx(
        1, abs=0.01
    )
    assert abs(np.median(raw.series.values[:, 5]) + 9.8) < 0.5  # FRD specific force at rest


@pytest.mark.parametrize("src", [SITL, REAL], ids=["sitl-in-air", "cubeorange"])
def test_an_imu_decimated_below_the_minimum_is_refused_naming_topic_and_rate(src, tmp_path):
    slow = _edited(src, tmp_path / "slow.ulg", lambda t, i: i % 29 == 0)  # 250|200 Hz / 29
    rate = best_imu(ULog(str(slow), ulog_topics.TOPICS)).rate_hz
    assert rate < 10
    said = (
        rf"slow.ulg: the fastest IMU topic, sensor_combined, is logged at {rate:.1f} Hz "
        r"\(median\), below the 100 Hz .*IMU topics: sensor_combined .*vehicle_imu\[0\] 2.0 Hz"
    )
    with pytest.raises(ClipError, match=said):
        import_ulog(slow, tmp_path / "b")
    assert main(["clip", "import-ulog", str(slow), "-o", str(tmp_path / "c")]) == 1
    clip = read_bundle(import_ulog(slow, tmp_path / "d", min_imu_hz=0))  # no filter: imported
    assert clip.manifest["provenance"]["imu_rate_hz"] == pytest.approx(rate, abs=0.01)


def test_imu_dropouts_are_named_with_their_spans(tmp_path):
    gap = _edited(SITL, tmp_path / "gap.ulg", lambda t, i: (t < 20.0) | (t > 20.5))
    prov = read_bundle(import_ulog(gap, tmp_path / "b")).manifest["provenance"]
    t0 = ULog(str(gap), ["sensor_combined"]).get_dataset("sensor_combined").data["timestamp"][0]
    start = ULog(str(SITL), []).start_timestamp
    assert len(prov["imu_dropouts"]) == 1
    a, b = prov["imu_dropouts"][0]
    offset = (t0 - start) / 1e6  # clip time counts from the first IMU sample
    assert a == pytest.approx(20.0 - offset, abs=0.005) and b == pytest.approx(
        20.5 - offset, abs=0.005
    )
    assert (
        read_bundle(import_ulog(SITL, tmp_path / "c")).manifest["provenance"]["imu_dropouts"] == []
    )
