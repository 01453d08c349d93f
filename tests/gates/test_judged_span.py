"""The eskf-divergence gate's judged span: it starts at the first truth sample and the first fix.

A real log's GNSS fix comes seconds after boot, so its truth and (oracle) fixes start late: the
gate judges from there and says so, where it used to call the record cut short. A stack that
stops writing, at the start or the end of that span, is still no-data. Records are the run
driver's own (tests/gates/conftest.py), edited the way a late fix or a cut run would leave them.
"""

from __future__ import annotations

from pathlib import Path

from harness.gates import conclude
from tests.gates.mutate import edited, is_

LATE_S = 3.0  # the first GNSS fix, seconds after the log starts


def _before(rows, late_s, *kinds) -> list:
    def early(r) -> bool:
        return any(is_(*k)(r) for k in kinds) and r.get("t_s", 0) < late_s

    return [r for r in rows if not early(r)]


def _late_fix(rows):
    """Truth, fixes and states before the first fix gone, as a log whose GNSS locks late:
    the driver states where the clip's truth starts."""
    rows = _before(rows, LATE_S, ("truth", "sample"), ("eskf",))
    for r in rows:
        if is_("truth", "span")(r):
            r["t_s"] = min(x["t_s"] for x in rows if is_("truth", "sample")(x))
    return rows


def test_a_late_first_fix_is_judged_from_there_and_said(real_records, tmp_path: Path) -> None:
    v = conclude(edited(real_records["oracle"], tmp_path / "record.jsonl", _late_fix))
    assert v.gate == "pass", v
    eskf = v.metrics["eskf-divergence"]
    assert abs(eskf["judged_from_s"] - LATE_S) < 0.6
    assert eskf["judged_from"].startswith("the clip's truth starts at 3.")


def test_truth_missing_where_the_clip_has_it_is_still_no_data(real_records, tmp_path) -> None:
    """The same cut of truth without the driver's span saying so: not a late fix, a hole."""

    def hole(rows):
        return _before(rows, LATE_S, ("truth", "sample"))

    v = conclude(edited(real_records["oracle"], tmp_path / "record.jsonl", hole))
    assert v.gate == "no-data" and "no finite ground truth over 0.0" in v.reason, v


def test_states_missing_after_the_first_fix_are_still_a_cut_record(real_records, tmp_path) -> None:
    def cut(rows):
        return _before(_late_fix(rows), LATE_S + 3.0, ("eskf", "state"))

    v = conclude(edited(real_records["oracle"], tmp_path / "record.jsonl", cut))
    assert (
        v.gate == "no-data" and "judged from 3." in v.reason and "nothing at the start" in v.reason
    )


def test_imu_dropouts_the_stack_names_reach_the_verdict(real_records, tmp_path) -> None:
    def gap(rows):
        drop = {"kind": "event", "stage": "eskf", "type": "imu-dropout", "from_s": 4.0, "to_s": 4.5}
        return [rows[0], drop, *rows[1:]]

    v = conclude(edited(real_records["oracle"], tmp_path / "record.jsonl", gap))
    assert v.metrics["eskf-divergence"]["imu_dropouts"] == ["4.00-4.50 s"]
