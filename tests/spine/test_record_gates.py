"""The run record round trip, torn records, gate classification and the ratchet's decisions."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from harness.gates import LADDER, Verdict, classify, read_verdict
from harness.ratchet import decide
from harness.record import RecordWriter, read_record


def _record(tmp_path: Path, *events: dict, verdict: bool = False, scenario: dict | None = None):
    path = tmp_path / "record.jsonl"
    with RecordWriter(path) as w:
        w.condition(scenario or {"name": "t"}, {}, {"git_sha": None})
        for ev in events:
            w.event(**ev)
        if verdict:
            w.verdict(classify(read_record(path)).as_dict())
    return path


def test_nan_and_numpy_are_written_as_plain_json(tmp_path: Path) -> None:
    path = _record(tmp_path, {"stage": "eskf", "type": "state", "p": np.array([1.0, math.nan])})
    rec = read_record(path)
    assert rec.events[0]["p"] == [1.0, None] and rec.problems == []


def test_missing_verdict_and_torn_line_are_infra_error(tmp_path: Path) -> None:
    path = _record(tmp_path, {"stage": "provisioning", "type": "backbones", "count": 0})
    assert read_verdict(path).gate == "infra-error"
    with path.open("a") as fh:
        fh.write('{"kind": "verdict", "gate": "pa')
    verdict = read_verdict(path)
    assert verdict.gate == "infra-error" and "torn final line" in verdict.reason
    assert read_verdict(tmp_path / "absent.jsonl").gate == "infra-error"


def test_line_after_verdict_voids_it(tmp_path: Path) -> None:
    path = _record(
        tmp_path, {"stage": "provisioning", "type": "backbones", "count": 0}, verdict=True
    )
    assert read_verdict(path).gate == "empty-backbones"
    with path.open("a") as fh:
        fh.write('{"kind": "event", "stage": "x", "type": "y"}\n')
    assert read_verdict(path).gate == "infra-error"


def test_classification_walks_the_ladder(tmp_path: Path) -> None:
    backbones = {"stage": "provisioning", "type": "backbones", "count": 1, "names": ["n"]}
    ok = {"stage": "provisioning", "type": "check", "backbone": "n", "check": "exists", "ok": True}
    bad = {**ok, "check": "sha256", "ok": False, "detail": "pin differs"}
    assert classify(read_record(_record(tmp_path, backbones, ok, bad))).gate == "provisioning"
    # provisioning passed, but no VPR evidence: no-data, never a pass
    verdict = classify(read_record(_record(tmp_path, backbones, ok)))
    assert verdict.gate == "no-data" and verdict.reason.startswith("vpr-contract:")
    err = {"stage": "setup", "type": "error", "category": "config-error", "message": "bad clip"}
    assert classify(read_record(_record(tmp_path, backbones, err))).gate == "config-error"


@pytest.mark.parametrize(
    ("expect", "gate", "outcome"),
    [
        ("provisioning", "provisioning", "xfailed"),
        ("empty-backbones", "empty-backbones", "skipped"),
        ("pass", "pass", "passed"),
        ("provisioning", "retrieval-quality", "failed"),
        ("eskf-divergence", "provisioning", "failed"),
    ],
)
def test_decide(expect: str, gate: str, outcome: str) -> None:
    assert decide(expect, Verdict(gate, "fail", "why")).outcome == outcome


def test_expect_reason_pins_why_the_run_stops() -> None:
    d1 = Verdict("eskf-divergence", "fail", "D1 from t=29.0 s: NEES > 13.82 ...")
    d3 = Verdict("eskf-divergence", "fail", "D3 from t=40.3 s: eph > 100 m ...")
    assert decide("eskf-divergence", d1, "^D1 ").outcome == "xfailed"
    wrong = decide("eskf-divergence", d3, "^D1 ")
    assert wrong.outcome == "failed" and "expect_reason" in wrong.message
    assert decide("provisioning", d1, "^D1 ").outcome == "failed"  # the gate still comes first


def test_decide_broken_and_no_data() -> None:
    assert decide("pass", Verdict.broken("infra-error", "oom")).outcome == "broken"
    assert decide("pass", Verdict("no-data", "no-data", "x")).outcome == "failed"
    assert all(decide(g, Verdict(g, "fail", "")).outcome != "failed" for g in LADDER)
