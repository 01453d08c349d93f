"""The run record round trip, torn records, gate classification and the ratchet's decisions."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from harness.gates import LADDER, Verdict, classify, conclude
from harness.gates.expectation import decide
from harness.record import RecordWriter, read_record


def _record(tmp_path: Path, *events: dict, end: bool = True, scenario: dict | None = None):
    path = tmp_path / "record.jsonl"
    with RecordWriter(path) as w:
        w.condition(scenario or {"name": "t"}, {}, {"git_sha": None})
        for ev in events:
            w.event(**ev)
        if end:
            w.end()
    return path


def test_nan_and_numpy_are_written_as_plain_json(tmp_path: Path) -> None:
    path = _record(tmp_path, {"stage": "eskf", "type": "state", "p": np.array([1.0, math.nan])})
    rec = read_record(path)
    assert rec.events[0]["p"] == [1.0, None] and rec.problems == []


def test_missing_end_line_and_torn_line_are_infra_error(tmp_path: Path) -> None:
    path = _record(tmp_path, {"stage": "provisioning", "type": "backbones", "count": 0}, end=False)
    assert conclude(path).gate == "infra-error"
    with path.open("a") as fh:
        fh.write('{"kind": "end"')
    verdict = conclude(path)
    assert verdict.gate == "infra-error" and "torn final line" in verdict.reason
    assert conclude(tmp_path / "absent.jsonl").gate == "infra-error"


def test_the_host_classifies_and_a_written_verdict_is_never_trusted(tmp_path: Path) -> None:
    """A run that writes its own PASS line gets the verdict its evidence earns, as last line."""
    path = _record(tmp_path, {"stage": "provisioning", "type": "backbones", "count": 0})
    with path.open("a") as fh:
        fh.write('{"kind":"verdict","gate":"pass","outcome":"pass","reason":"trust me"}\n')
    assert conclude(path).gate == "empty-backbones"
    last = read_record(path)
    assert last.verdict["gate"] == "empty-backbones" and last.problems == []
    assert conclude(path).gate == "empty-backbones"  # judging twice keeps one verdict line
    assert path.read_text().count('"kind":"verdict"') == 1


def test_events_after_the_end_line_are_not_evidence(tmp_path: Path) -> None:
    path = _record(tmp_path, {"stage": "provisioning", "type": "backbones", "count": 0})
    with path.open("a") as fh:
        fh.write('{"kind": "event", "stage": "x", "type": "y"}\n')
    rec = read_record(path)
    assert rec.ended and rec.events[-1]["stage"] == "provisioning"
    assert "after the end line" in rec.problems[0]


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
