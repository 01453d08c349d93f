"""Expectations pin their reason: a failing `expect` needs `expect_reason` (lint suggests one
from the last run), the ratchet rewrites it, and a run stopping at the right gate for another
reason is neither "as expected" nor a baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.commands.main import main
from harness.gates import Verdict
from harness.gates.expectation import decide, suggested_reason, trigger
from harness.history.baseline import green_runs
from harness.history.ledger import Row
from harness.scenario.load import load
from harness.scenario.problems import ScenarioInvalid
from harness.scenario.ratchet import raise_expect
from tests.helpers import scenario_text

D6 = "D6 from t=22.0 s: 16/31 fixes rejected within 30 s (> 50%): the filter is coasting"
RECALL = "recall@1 (footprint) 0.33 < 0.80 over 60 queries"


@pytest.mark.parametrize(
    ("reason", "found", "pattern"),
    [
        (D6, "D6", "^D6"),
        ("netvlad-vgg16: exists failed: models/x.pt does not exist", "exists failed", None),
        (RECALL, "recall@1 (footprint)", r"^recall@1 \(footprint\)"),
        ("eskf: p95 13.9 ms > p95_ms 0.001 ms", "eskf: p95", "^eskf: p95"),
    ],
)
def test_a_trigger_is_the_reason_without_its_figures(reason, found, pattern) -> None:
    assert trigger(reason) == found
    assert suggested_reason(reason) == (pattern or found)


def test_a_failing_expect_without_expect_reason_is_a_located_error_lint_suggests_one(
    project: pytest.Pytester, capsys: pytest.CaptureFixture
) -> None:
    text = scenario_text("loose", "provisioning", expect_reason="''").replace(
        "expect_reason: ''\n", ""
    )
    path = project.makefile(".scenario.yaml", loose=text)
    with pytest.raises(ScenarioInvalid) as info:
        load(path, project.path)
    [problem] = info.value.problems
    assert problem.line == 6 and "provisioning needs an expect_reason" in problem.message
    runs = project.path / "reports" / "runs" / "s1"
    runs.mkdir(parents=True)
    row = {"scenario": str(path), "gate": "provisioning", "status": "xfailed"}
    row["reason"] = "netvlad-vgg16: sha256 failed: models/x.pt has sha256 ab12"
    (runs / "verdicts.jsonl").write_text(json.dumps(row) + "\n")
    assert main(["scenario", "lint", str(path)]) == 1
    out = capsys.readouterr().out
    assert "the last run stopped at provisioning: 'netvlad-vgg16: sha256 failed" in out
    assert "e.g. expect_reason: 'sha256 failed'" in out
    # pass and empty-backbones need none
    for gate in ("pass", "empty-backbones"):
        load(project.makefile(".scenario.yaml", ok=scenario_text("ok", gate)), project.path)


def test_the_ratchet_rewrites_expect_reason_never_keeps_a_stale_one(tmp_path: Path) -> None:
    path = tmp_path / "s.scenario.yaml"
    text = scenario_text("s", "provisioning", expect_reason="'sha256 failed'  # the pin")
    path.write_text("# why it exists\n" + text)
    assert raise_expect(path, "retrieval-quality", RECALL) == "provisioning"
    assert "expect: retrieval-quality\n" in path.read_text()
    assert "expect_reason: '^recall@1 \\(footprint\\)'\n" in path.read_text()
    assert path.read_text().startswith("# why it exists\n")
    assert raise_expect(path, "eskf-divergence", D6) == "retrieval-quality"
    assert "expect_reason: '^D6'\n" in path.read_text()
    assert raise_expect(path, "pass", "every gate passed") == "eskf-divergence"
    assert "expect_reason" not in path.read_text() and "expect: pass" in path.read_text()
    # a file without one gets one under `expect`
    path.write_text(scenario_text("t", "empty-backbones"))
    assert raise_expect(path, "eskf-divergence", D6) == "empty-backbones"
    assert "expect: eskf-divergence\nexpect_reason: '^D6'\n" in path.read_text()


def test_another_reason_at_the_same_gate_is_not_as_expected_nor_a_baseline() -> None:
    """A scale bug moved the run from the error budget to another trigger: same gate."""
    budget, d1 = "^error budget", "D1 from t=10.0 s: NEES > 13.82 and error > 50 m for >= 5 s"
    moved = decide("eskf-divergence", Verdict("eskf-divergence", "fail", d1), budget)
    assert moved.outcome == "failed" and "does not match expect_reason" in moved.message
    kept = decide("eskf-divergence", Verdict("eskf-divergence", "fail", "error budget: x"), budget)
    assert kept.outcome == "xfailed"
    rows = [
        Row("run-1", "s", "eskf-divergence", "fail", status=kept.outcome),
        Row("run-2", "s", "eskf-divergence", "fail", status=moved.outcome),
    ]
    assert green_runs(rows) == {"run-1"}
