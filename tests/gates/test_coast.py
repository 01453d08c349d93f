"""Coasts in the eskf-divergence gate: D7 (the covariance must bound the error while the filter
runs on its IMU alone) and the drift budget, on the run driver's own record edited the way a
fix dropout and an over-confident filter would leave it."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.gates import conclude
from harness.gates.coast import coasts, inside
from tests.gates.mutate import edited, is_

GAP = (3.5, 9.5)  # fixes dropped here: the filter coasts from the last fix before it


def _dropout(rows):
    return [r for r in rows if not (is_("eskf", "fix")(r) and GAP[0] <= r["t_s"] <= GAP[1])]


def _judge(src: Path, tmp_path: Path, edit):
    return conclude(edited(src, tmp_path / "record.jsonl", edit))


def test_coasts_are_the_stretches_without_a_fused_fix():
    spans = coasts(np.array([0.0, 1.0, 2.0, 8.0, 9.0]), 15.0, 5.0)
    assert spans == [(2.0, 8.0), (9.0, 15.0)]
    assert inside(np.array([2.0, 2.1, 8.0, 8.1, 15.0]), spans).tolist() == [0, 1, 1, 0, 1]
    assert coasts(np.array([]), 10.0, 5.0) == []


def test_a_consistent_coast_is_reported_and_passes(real_records, tmp_path) -> None:
    v = _judge(real_records["oracle"], tmp_path, _dropout)
    assert v.gate == "pass", v
    (coast,) = v.metrics["eskf-divergence"]["coasts"]
    assert coast["from_s"] < GAP[0] and coast["to_s"] > GAP[1] and coast["max_nees"] < 13.82


def test_an_over_confident_coast_is_d7(real_records, tmp_path) -> None:
    """The same dropout with the covariance shrunk 10^4 inside it: the error is what it was,
    the filter claims to know its position to centimetres."""

    def shrunk(rows):
        rows = _dropout(rows)
        for r in rows:
            if is_("eskf", "state")(r) and GAP[0] <= r["t_s"] <= GAP[1]:
                r["P_hh"] = (np.asarray(r["P_hh"]) * 1e-4).tolist()
        return rows

    v = _judge(real_records["oracle"], tmp_path, shrunk)
    assert v.gate == "eskf-divergence" and v.reason.startswith("D7 from t="), v
    assert "while coasting on the IMU (no fix fused from" in v.reason


def test_a_coast_beyond_its_drift_budget_fails_naming_it(real_records, tmp_path) -> None:
    def budget(rows):
        rows = _dropout(rows)
        rows[0]["scenario"]["gates"]["eskf_divergence"]["coast_max_error_m"] = 0.01
        return rows

    v = _judge(real_records["oracle"], tmp_path, budget)
    assert v.gate == "eskf-divergence" and v.outcome == "fail", v
    assert "on the IMU alone: error" in v.reason and "> coast_max_error_m 0.01" in v.reason
