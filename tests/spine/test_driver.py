"""The run driver's categories: after provisioning, a broken runner or record is infra-error,
a clip that lacks what the scenario asks for is config-error, a product stop is judged."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ClipError, RecordError
from harness.gates import conclude
from harness.record import read_record
from harness.reference.provisioned import Engine
from harness.run.driver import run
from harness.run.stage import StageStop
from tests.helpers import scenario_text

REPO = Path(__file__).resolve().parents[2]
FAILURES = {
    "record": RecordError("the record's disk is full"),
    "clip": ClipError("clip.tar: the clip has no IMU stream; pick a bundle with imu.npy"),
    "memory": MemoryError(),
    "stop": StageStop("no frames to query"),
}


class Failing:
    """A stack under test that provisions nothing and fails in its VPR stage as told."""

    how = "record"

    def provision(self, ctx) -> list[Engine]:
        return []

    def fixes(self, ctx, engines):
        raise FAILURES[self.how]

    def navigate(self, ctx, fixes) -> None:  # pragma: no cover - never reached
        raise AssertionError


@pytest.mark.parametrize(
    ("how", "gate", "words"),
    [
        ("record", "infra-error", "RecordError: the record's disk is full"),
        ("clip", "config-error", "no IMU stream"),
        ("memory", "infra-error", "MemoryError"),
        ("stop", "no-data", None),
    ],
)
def test_failures_after_provisioning_land_in_their_category(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str, gate: str, words
) -> None:
    monkeypatch.setattr(Failing, "how", how)
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "configs").mkdir()
    config = (REPO / "configs" / "operator_replay.yaml").read_text()
    (tmp_path / "configs" / "operator_replay.yaml").write_text(config)
    text = scenario_text("f", "pass", pipeline=f"{__name__}:Failing")
    path = tmp_path / "f.scenario.yaml"
    path.write_text(text.replace("derkachi-60s", "derkachi-10s"))
    record = run(path, tmp_path / "out", root=tmp_path, cache_dir=REPO / ".cache")
    assert read_record(record).ended
    verdict = conclude(record)
    if how == "stop":  # a product stop is judged on what was recorded: here, nothing
        assert verdict.gate == "no-data" and "no provisioning check" in verdict.reason
        assert "(the stack stopped: no frames to query)" in verdict.reason
        return
    assert verdict.gate == gate and words in verdict.reason
