"""The latency-budget gate: p95/max per stage, no-data on thin evidence, strict spec."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from harness.gates.latency import LatencyBudgetSpec, check, judge
from harness.record import read_record


def spec(**kw) -> LatencyBudgetSpec:
    return LatencyBudgetSpec.model_validate(kw)


def test_no_budget_is_not_applicable() -> None:
    assert judge({"vpr": [1.0] * 50}, spec()).outcome == "n/a"


def test_pass_reports_p95_and_max_per_stage() -> None:
    result = judge({"vpr": [10.0] * 30, "eskf": [1.0] * 30}, spec(p95_ms=50, min_samples=10))
    assert result.outcome == "pass"
    assert result.metrics["vpr"] == {"p95_ms": 10.0, "max_ms": 10.0, "samples": 30}
    assert set(result.metrics) == {"vpr", "eskf"}


def test_p95_over_budget_fails_naming_stage_and_threshold() -> None:
    samples = {"vpr": [100.0] * 18 + [400.0] * 2}
    result = judge(samples, spec(p95_ms=250, min_samples=20))
    assert result.outcome == "fail"
    assert "vpr: p95 400.0 ms > p95_ms 250 ms" in result.reason


def test_max_over_budget_fails_even_when_p95_passes() -> None:
    samples = {"vpr": [10.0] * 99 + [900.0]}
    result = judge(samples, spec(p95_ms=250, max_ms=500, min_samples=20))
    assert result.outcome == "fail" and "max 900.0 ms > max_ms 500 ms" in result.reason


def test_too_few_samples_is_no_data() -> None:
    result = judge({"vpr": [10.0] * 5}, spec(p95_ms=250, min_samples=20))
    assert result.outcome == "no-data"
    assert "vpr: 5 latency samples < min_samples 20" in result.reason


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_samples_are_no_data_naming_them_never_a_pass(bad) -> None:
    """The issue's case: every sample inf (or NaN) under p95 50 ms; `nan > 50` is false."""
    assert judge({"eskf": [bad] * 30}, spec(p95_ms=50)).outcome == "no-data"
    where = {"eskf": ["record.jsonl:7"]}
    result = judge({"eskf": [1.0] * 29 + [bad]}, spec(p95_ms=50), where)
    assert result.outcome == "no-data"
    assert "eskf: 1 of 30 latency samples are not finite (record.jsonl:7)" in result.reason


def test_a_named_stage_without_samples_is_no_data() -> None:
    result = judge({}, spec(stages={"vpr": {"p95_ms": 100}}))
    assert result.outcome == "no-data"


def test_a_budget_with_no_samples_at_all_is_no_data() -> None:
    assert judge({}, spec(p95_ms=100)).outcome == "no-data"


def test_per_stage_budget_overrides_the_top_level() -> None:
    samples = {"vpr": [200.0] * 30, "eskf": [20.0] * 30}
    s = spec(p95_ms=50, min_samples=10, stages={"vpr": {"p95_ms": 300}})
    assert judge(samples, s).outcome == "pass"


def test_fail_beats_no_data() -> None:
    samples = {"vpr": [500.0] * 30, "eskf": [1.0]}
    assert judge(samples, spec(p95_ms=100, min_samples=10)).outcome == "fail"


def test_unknown_keys_and_bad_units_are_errors() -> None:
    with pytest.raises(ValidationError, match="p95"):
        spec(p95=250)
    with pytest.raises(ValidationError):
        spec(p95_ms=-1)
    with pytest.raises(ValidationError):
        spec(stages={"vpr": {"p95_s": 1}})


def test_check_reads_both_sample_kinds_and_summarises_telemetry(tmp_path: Path) -> None:
    lines = [{"kind": "condition", "scenario": {"gates": {"latency_budget": {
        "p95_ms": 250, "min_samples": 3}}}}]  # fmt: skip
    lines += [{"kind": "event", "stage": "vpr", "type": "query", "latency_ms": 120.0}] * 3
    lines += [{"kind": "event", "stage": "latency", "type": "sample", "stage_name": "eskf",
               "ms": 2.0}] * 3  # fmt: skip
    lines += [{"kind": "event", "stage": "telemetry", "type": "sample", "source": "tegrastats",
               "ram_used_mb": r, "cpu_load_pct": 50.0, "gpu_load_pct": 80.0,
               "temps_c": {"tj": 60.0, "cv0": None}} for r in (100, 300)]  # fmt: skip
    path = tmp_path / "record.jsonl"
    path.write_text("".join(json.dumps(x) + "\n" for x in lines))
    result = check(read_record(path))
    assert result.outcome == "pass"
    assert result.metrics["vpr"]["samples"] == 3 and result.metrics["eskf"]["p95_ms"] == 2.0
    assert result.metrics["device"] == {
        "source": "tegrastats", "samples": 2, "ram_peak_mb": 300.0,
        "cpu_load_mean_pct": 50.0, "gpu_load_mean_pct": 80.0, "temp_max_c": 60.0,
    }  # fmt: skip
