"""The sweep's picture: drawn from the record's sweep/step events into `sweep.png` (the Allure
report's `sweep` step), and absent for a run without a sweep."""

from __future__ import annotations

from pathlib import Path

from harness.gates.sweep import not_replayed
from harness.record import read_record
from harness.report.allure_report import stage_of
from harness.report.run_plots import make_run_figures
from tests.helpers import sweep_record


def _record(tmp_path: Path, steps: list[dict], sweep: dict | None) -> Path:
    scenario = {"name": "s", **({"sweep": sweep} if sweep else {})}
    return sweep_record(tmp_path / "record.jsonl", scenario, steps)


def test_the_sweep_is_drawn_into_its_own_step(tmp_path: Path) -> None:
    steps = [
        {"speed": s, "query_hz": s, "deadline_ms": 1e3 / s,
         "stages": {"vpr": [5.0] * 20 if s < 4 else [None, float("nan"), *[900.0] * 18]}}
        for s in (1, 2, 4)
    ]  # fmt: skip
    record = read_record(_record(tmp_path, steps, {"speed": [1, 2, 4], "stages": ["vpr"]}))
    made = make_run_figures(record, tmp_path)
    assert tmp_path / "sweep.png" in made and (tmp_path / "sweep.png").stat().st_size > 0
    assert stage_of(tmp_path / "sweep.png") == "sweep"
    plain = read_record(_record(tmp_path, [], None))
    assert not [p for p in make_run_figures(plain, tmp_path / "x") if p.name == "sweep.png"]


def test_the_sweep_picture_is_drawn_with_rates_not_replayed(tmp_path: Path) -> None:
    steps = [{"speed": 1, "query_hz": 1, "deadline_ms": 1e3, "stages": {"vpr": [None] * 20}}]
    scenario = {"name": "s", "sweep": {"speed": [1, 2], "stages": ["vpr"]}}
    record = read_record(sweep_record(tmp_path / "record.jsonl", scenario, steps, skipped=[2]))
    assert not_replayed(record) == [2]
    assert tmp_path / "sweep.png" in make_run_figures(record, tmp_path)
