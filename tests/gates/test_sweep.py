"""The throughput sweep's rule on plain numbers and on records: which rate holds, the sustained
rate (every lower rate holding too), the evidence minimum, non-finite figures, the budget."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pydantic import ValidationError

from harness.gates.latency import check as latency_check
from harness.gates.sweep import Sustained, SweepSpec, judge, judge_step, sweeps_of
from harness.history.ledger import key_metrics
from harness.record import read_record
from tests.helpers import sweep_record

SPEC = SweepSpec(speed=[1, 2, 4, 8], max_miss_fraction=0.1, min_answers=10)


def step(speed: float, latencies: list[float | None], spec: SweepSpec = SPEC, **kw):
    return judge_step(speed, speed, 1000.0 / speed, latencies, spec, **kw)


def fast(n: int = 20) -> list[float | None]:
    return [5.0] * n


def test_a_rate_holds_within_the_bound_and_fails_over_it() -> None:
    held = step(1, [*fast(18), 2000.0, None])  # 1 late, 1 never: 10 % <= 10 %
    assert (held.status, held.late, held.missed) == ("holds", 1, 2)
    over = step(1, [*fast(17), 2000.0, None, None])  # 15 %
    assert over.status == "fails" and "3 of 20 frames late or never" in over.why


def test_the_deadline_is_the_query_period_so_falling_behind_is_late() -> None:
    # 200 ms answers: in time at 1 Hz (1000 ms period), late at 8 Hz (125 ms)
    assert step(1, [200.0] * 20).status == "holds"
    assert step(8, [200.0] * 20).status == "fails"


def test_the_sustained_rate_needs_every_lower_rate_to_hold() -> None:
    steps = [step(1, fast()), step(2, [None] * 20), step(4, fast()), step(8, fast())]
    sweep = Sustained("vpr", steps)
    assert sweep.speed == 1  # x4 and x8 held after x2 failed: luck, not throughput
    assert sweep.metrics()["sustained_speed"] == 1
    none = Sustained("vpr", [step(1, [None] * 20), step(2, fast())])
    assert none.speed == 0 and none.metrics()["sustained_query_hz"] == 0


def test_too_few_answers_is_no_data_but_a_silent_stack_fails() -> None:
    thin = step(1, fast(5))  # 5 asked, all answered: too few to say it holds
    assert thin.status == "no-data" and "< min_answers 10" in thin.why
    silent = step(1, [None] * 20)  # asked 20, answered none: not a hiding place
    assert silent.status == "fails"


def test_no_rate_with_evidence_is_no_data_never_pass() -> None:
    result = judge([Sustained("vpr", [step(1, fast(3)), step(2, fast(3))])], SPEC)
    assert result.outcome == "no-data" and "no rate had evidence" in result.reason
    assert judge([Sustained("vpr", [])], SPEC).outcome == "no-data"


def test_the_budget_fails_a_slower_stage_and_passes_a_faster_one() -> None:
    spec = SPEC.model_copy(update={"min_speed": 4.0})
    slow = Sustained("vpr", [step(1, fast()), step(2, fast()), step(4, [None] * 20)])
    result = judge([slow], spec)
    assert result.outcome == "fail"
    assert result.reason.startswith("vpr: sustained 2x < min_speed 4x (at 4x: 20 of 20")
    quick = Sustained("fix", [step(1, fast()), step(2, fast()), step(4, fast())])
    assert judge([quick], spec).outcome == "pass"
    # the rate that broke the run below the budget had no evidence: no-data, not a fail
    unknown = Sustained("vpr", [step(1, fast()), step(2, fast(3)), step(4, fast())])
    assert judge([unknown], spec).outcome == "no-data"


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_a_non_finite_latency_or_rate_is_a_located_no_data(bad: float) -> None:
    at = step(1, [*fast(19), bad], where="record.jsonl:7")
    assert at.status == "no-data" and "record.jsonl:7" in at.why and "not finite" in at.why
    rate = judge_step(bad, 1.0, 1000.0, fast(), SPEC, where="record.jsonl:9")
    assert rate.status == "no-data" and "record.jsonl:9" in rate.why


def test_the_spec_takes_one_rising_list() -> None:
    assert SweepSpec(query_hz=[2, 4]).speeds(rate_hz=2.0) == [1.0, 2.0]
    for bad in ({}, {"speed": [1], "query_hz": [1]}, {"speed": [2, 1]}, {"speed": [1, 1]}):
        with pytest.raises(ValidationError):
            SweepSpec(**bad)
    with pytest.raises(ValidationError):
        SweepSpec(speed=[1], max_miss_fraction=math.nan)


def _record(tmp_path: Path, steps: list[dict], sweep: dict) -> Path:
    """A finished record of a run whose every other gate has nothing to judge."""
    scenario = {
        "name": "s",
        "sweep": sweep,
        "gates": {"retrieval_quality": {"applies": False}, "vpr_contract": {"applies": False}},
    }
    return sweep_record(tmp_path / "record.jsonl", scenario, steps)


def _step(speed: float, vpr: list, fix: list | None = None) -> dict:
    stages = {"vpr": vpr, "fix": vpr if fix is None else fix}
    return {"speed": speed, "query_hz": speed, "deadline_ms": 1000.0 / speed, "stages": stages}


def test_the_gate_reads_the_record_and_the_ledger_keeps_the_sustained_rate(
    tmp_path: Path,
) -> None:
    sweep = {"speed": [1, 2, 4], "min_answers": 10, "min_speed": 2}
    steps = [_step(4, [None] * 20), _step(1, fast()), _step(2, fast(), [2000.0] * 20)]
    record = read_record(_record(tmp_path, steps, sweep))
    sweeps = sweeps_of(record, SweepSpec(**sweep))
    assert [s.speed for s in sweeps[0].steps] == [1, 2, 4]  # in rising rate, as recorded or not
    result = latency_check(record)
    assert result.outcome == "fail" and result.reason.startswith("fix: sustained 1x < min_speed 2x")
    flat = key_metrics({"latency-budget": result.metrics})
    assert flat["latency-budget.sweep.vpr.sustained_speed"] == 2.0
    assert flat["latency-budget.sweep.fix.sustained_speed"] == 1.0


def test_a_nan_in_the_record_is_named_by_its_line(tmp_path: Path) -> None:
    path = _record(tmp_path, [_step(1, [*fast(19), "NaN"])], {"speed": [1]})
    path.write_text(path.read_text().replace('"NaN"', "NaN"))
    result = latency_check(read_record(path))
    assert result.outcome == "no-data" and f"{path}:2" in result.reason


def test_a_sweep_scenario_without_steps_is_no_data(tmp_path: Path) -> None:
    result = latency_check(read_record(_record(tmp_path, [], {"speed": [1, 2]})))
    assert result.outcome == "no-data" and result.reason.startswith("vpr: no rate had evidence")
