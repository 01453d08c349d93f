"""The run driver's categories: after provisioning, a broken runner or record is infra-error,
a clip that lacks what the scenario asks for is config-error, a product stop is judged."""

from __future__ import annotations

import contextlib
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


def _write_truth(ctx) -> None:
    ctx.emit("truth", "sample", t_s=0.0, p_ned_m=[0, 0, 0], q_wxyz=[1, 0, 0, 0])


def _swallowed(ctx) -> None:
    with contextlib.suppress(Exception):  # a stage that hides the refusal still fails the run
        ctx.record.event("truth", "span", t_s=0.0, to_s=1.0)


CHEATS = {
    "truth": _write_truth,
    "end": lambda ctx: ctx.record.end(),
    "condition": lambda ctx: ctx.record.condition({}, {}, {}),
    "setup": lambda ctx: ctx.record.event("setup", "error", category="pass", message="ok"),
    "verdict": lambda ctx: ctx.emit("vpr", "query", kind="verdict", gate="pass"),
    # its own denominator: no frame it must answer
    "expected": lambda ctx: ctx.emit("vpr", "expected", rate_hz=1.0, frames=[], t_s=[]),
    # provenance it chose (an engine it did not run): late artifacts come via ctx.artifact
    "provenance": lambda ctx: ctx.emit("provenance", "artifact", artifact={"kind": "engine"}),
    "swallowed": _swallowed,
}


class Cheating(Failing):
    """A stage that writes what only the driver writes, then carries on as if nothing were."""

    def fixes(self, ctx, engines):
        CHEATS[self.how](ctx)
        return []

    def navigate(self, ctx, fixes) -> None:
        pass


@pytest.mark.parametrize("how", sorted(CHEATS))
def test_a_stage_cannot_write_the_drivers_kinds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    monkeypatch.setattr(Cheating, "how", how)
    (tmp_path / "pyproject.toml").write_text("")
    (tmp_path / "configs").mkdir()
    config = (REPO / "configs" / "operator_replay.yaml").read_text()
    (tmp_path / "configs" / "operator_replay.yaml").write_text(config)
    text = scenario_text("c", "pass", pipeline=f"{__name__}:Cheating")
    path = tmp_path / "c.scenario.yaml"
    path.write_text(text.replace("derkachi-60s", "derkachi-10s"))
    record = read_record(run(path, tmp_path / "out", root=tmp_path, cache_dir=REPO / ".cache"))
    assert record.ended and not record.problems and record.verdict is None
    verdict = conclude(record.path)
    assert verdict.gate == "config-error", verdict.reason
    assert "the stack's `fixes` stage" in verdict.reason
    assert "written by the run driver alone" in verdict.reason
    samples = list(record.select("truth", "sample"))  # the driver's, and only its
    assert samples and {"t_s": 0.0, "p_ned_m": [0, 0, 0]} not in [
        {k: s[k] for k in ("t_s", "p_ned_m")} for s in samples
    ]
