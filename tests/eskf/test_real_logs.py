"""Real PX4 logs through the run driver: a late GNSS fix is judged from there, a too-slow IMU
is a config-error at replay naming its topic and rate, and the two stated minimums agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pyulog import ULog

from harness.clip import ulog_topics
from harness.clip.imu_rate import MIN_IMU_HZ
from harness.gates import conclude
from harness.reference.eskf import filter as eskf_filter
from harness.run.driver import run
from tests.helpers import TINY_OVERRIDES, tiny_project

REPO = Path(__file__).resolve().parents[2]
SITL = REPO / "fixtures" / "px4" / "sample_px4_events.ulg"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("project")
    tiny_project(root)
    return root


def _run(project: Path, name: str, recording: str) -> object:
    scenario = project / f"{name}.scenario.yaml"
    scenario.write_text(
        f"format_version: 2\nname: {name}\npipeline: reference\n"
        f"config: configs/operator_replay.yaml\n{TINY_OVERRIDES}"
        f"clip:\n  recording: {recording}\n"
        "vpr: {strategy: oracle, rate_hz: 5, oracle: {sigma_m: 3, seed: 1}}\n"
        "gates: {retrieval_quality: {applies: false}, "
        "eskf_divergence: {sigma_vpr_m: 3, warmup_s: 2, min_states: 40}}\n"
        "expect: pass\n"
    )
    return conclude(run(scenario, project / "runs" / name, root=project, cache_dir=project))


def test_the_stated_minimum_rates_agree():
    assert MIN_IMU_HZ == eskf_filter.MIN_IMU_HZ


def test_a_late_gnss_fix_is_judged_from_there_not_called_a_cut_record(project):
    """PX4 SITL: the log starts at boot, GNSS locks at 9.2 s; truth and fixes start there."""
    path = project / "sitl.ulg"
    path.write_bytes(SITL.read_bytes())
    v = _run(project, "late-fix", "{kind: px4-ulog, path: sitl.ulg, truth_source: gnss}")
    assert "cut short" not in v.reason, v
    eskf = v.metrics["eskf-divergence"]
    assert 9.0 < eskf["judged_from_s"] < 9.6 and "truth starts at 9." in eskf["judged_from"]


def test_an_imu_below_the_filters_minimum_is_a_config_error_at_replay(project):
    """The same in-air log with sensor_combined decimated 1:29 (pyulog's writer), imported
    with min_imu_hz 0 (no filter meant): the replay refuses it, naming topic and rate."""
    ulog = ULog(str(SITL), [*ulog_topics.TOPICS, "vehicle_land_detected"])
    data = ulog.get_dataset("sensor_combined").data
    keep = np.arange(len(data["timestamp"])) % 29 == 0
    for name in data:
        data[name] = data[name][keep]
    ulog.write_ulog(str(project / "slow.ulg"))
    recording = "{kind: px4-ulog, path: slow.ulg, truth_source: gnss, min_imu_hz: 0}"
    v = _run(project, "slow-imu", recording)
    assert v.gate == "config-error", v
    assert "its IMU (sensor_combined) runs at 8.6 Hz (median), below the 100 Hz" in v.reason
