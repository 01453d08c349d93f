"""Every gate on every path (pass, fail per trigger, no-data), judged on real run records.

The records come from the run driver (tests/gates/conftest.py); a test that needs another
outcome edits the real record the way a broken stack or a cut run would, and says how.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.gates import classify, conclude, retrieval
from harness.record import read_record
from tests.gates.mutate import edited, is_, lines_of


def judge(src: Path, tmp_path: Path, edit) -> object:
    return conclude(edited(src, tmp_path / "record.jsonl", edit))


def test_the_real_records_land_where_their_evidence_says(real_records) -> None:
    assert conclude(real_records["empty"]).gate == "empty-backbones"
    oracle = conclude(real_records["oracle"])
    assert oracle.gate == "pass", oracle
    assert oracle.metrics["latency-budget"]["eskf"]["samples"] >= 5  # one per fix
    # a PASS names the gates that did not judge the run, and why
    assert oracle.reason == "pass; n/a: vpr-contract, retrieval-quality"
    assert oracle.metrics["n/a"]["retrieval-quality"] == (
        "the scenario declares this gate does not apply"
    )
    netvlad = conclude(real_records["netvlad"])
    assert netvlad.metrics["vpr-contract"]["dim"] == 64  # from the backbone config
    assert netvlad.metrics["retrieval-quality"]["queries"] >= 10


def test_provisioning_fails_and_empty_backbones_skip(real_records, tmp_path: Path) -> None:
    def break_check(rows):
        for r in rows:
            if is_("provisioning", "check")(r):
                r.update(ok=False, detail="sha256 differs from the pin")
                break
        return rows

    v = judge(real_records["netvlad"], tmp_path, break_check)
    assert v.gate == "provisioning" and "sha256 differs" in v.reason


def test_vpr_contract_fails_on_non_finite_dtype_size_and_collapse(real_records, tmp_path) -> None:
    def descriptor(**change):
        def edit(rows):
            for r in rows:
                if is_("vpr", "query")(r):
                    r["descriptor"].update(change)
            return rows

        return edit

    src = real_records["netvlad"]
    nan = judge(src, tmp_path, descriptor(finite=False, norm=None))
    assert nan.gate == "vpr-contract" and "non-finite" in nan.reason
    half = judge(src, tmp_path, descriptor(dtype="float16"))
    assert half.gate == "vpr-contract" and "dtype float16" in half.reason
    size = judge(src, tmp_path, descriptor(shape=[1, 4096]))
    assert size.gate == "vpr-contract" and "expected (..., 64) from the backbone" in size.reason

    def collapse(rows):
        for r in rows:
            if is_("vpr", "spread")(r):
                r["min_cosine"] = 0.99999
        return rows

    assert "collapsed" in judge(src, tmp_path, collapse).reason

    def spread_nan(rows):
        for r in rows:
            if is_("vpr", "spread")(r):
                r["min_cosine"] = None
        return rows

    assert "not finite" in judge(src, tmp_path, spread_nan).reason


def test_vpr_contract_no_data_without_described_queries(real_records, tmp_path) -> None:
    v = judge(
        real_records["netvlad"], tmp_path, lambda rows: [r for r in rows if not is_("vpr")(r)]
    )
    assert v.gate == "no-data" and v.reason.startswith("vpr-contract:")


def test_retrieval_quality_pass_fail_and_no_data(real_records, tmp_path) -> None:
    src = real_records["netvlad"]

    def bar(**spec):
        def edit(rows):
            rows[0]["scenario"]["gates"]["retrieval_quality"].update(spec)
            return rows

        return edit

    high = judge(src, tmp_path, bar(min_recall=1.0, recall_at=1))
    assert high.gate == "retrieval-quality" and high.outcome == "fail"
    assert "recall@1 (footprint)" in high.reason
    radius = judge(src, tmp_path, bar(min_recall=1.0, hit_rule="radius", radius_m=1.0))
    assert "within 1 m" in radius.reason
    thin = judge(src, tmp_path, bar(min_queries=1000))
    assert thin.gate == "no-data" and "retrieval-quality" in thin.reason
    untruthful = judge(src, tmp_path, lambda rows: [r for r in rows if not is_("truth")(r)])
    assert untruthful.gate == "no-data" and "queries with ground truth" in untruthful.reason


def test_truth_uncertainty_floors_the_hit_radius(real_records, tmp_path) -> None:
    """A radius inside the truth's own stated error would call right answers misses: the
    driver's truth/span `horizontal_95_m` raises it; a broken figure is a located broken record."""
    src = real_records["netvlad"]

    def stated(value, **spec):
        def edit(rows):
            rows[0]["scenario"]["gates"]["retrieval_quality"].update(spec)
            for r in rows:
                if is_("truth", "span")(r):
                    r["horizontal_95_m"] = value
            return rows

        return edit

    def gate(edit):
        return retrieval.check(read_record(edited(src, tmp_path / "record.jsonl", edit)))

    radius = {"hit_rule": "radius", "radius_m": 1.0, "recall_at": 5, "min_recall": 0.0}
    floored = gate(stated(5000.0, **radius))
    assert "within 5000 m (the truth's 95 % uncertainty)" in floored.reason
    assert floored.metrics["recall"] == 1.0  # every tile is inside 5 km
    assert "(recall@1 1.00)" in floored.reason  # the other standard N beside the bar's
    below = gate(stated(0.5, **radius))
    assert "within 1 m" in below.reason and "uncertainty" not in below.reason
    footprint = gate(stated(5000.0, min_recall=0.0))
    assert "(footprint)" in footprint.reason  # the floor is a radius: footprints keep theirs
    broken = judge(src, tmp_path, stated(-3.0, **radius))
    assert broken.gate == "infra-error" and "'horizontal_95_m' is -3.0" in broken.reason


def _eskf(src: Path, tmp_path: Path, edit):
    return judge(src, tmp_path, edit)


def test_eskf_no_data_when_the_record_is_cut_short(real_records, tmp_path) -> None:
    """A stack that stopped writing at 5 s of a 10 s clip: no-data, not a pass on the rest."""

    def cut(rows):
        return [r for r in rows if not (is_("eskf")(r) and r.get("t_s", 0) > 5.0)]

    v = _eskf(real_records["oracle"], tmp_path, cut)
    assert v.gate == "no-data" and "cut short" in v.reason, v


def test_eskf_no_data_without_truth_or_fused_fixes(real_records, tmp_path) -> None:
    src = real_records["oracle"]
    v = _eskf(src, tmp_path, lambda rows: [r for r in rows if not is_("truth")(r)])
    assert v.gate == "no-data" and "unverified" in v.reason
    v = _eskf(src, tmp_path, lambda rows: [r for r in rows if not is_("eskf", "fix")(r)])
    assert v.gate == "no-data" and "0 fixes fused" in v.reason


def test_eskf_no_data_names_the_span_where_truth_is_nan(real_records, tmp_path) -> None:
    def nan_truth(rows):
        for r in rows:
            if is_("truth", "sample")(r) and 6.0 <= r["t_s"] <= 7.0:
                r["p_ned_m"] = [None, None, None]
        return rows

    v = _eskf(real_records["oracle"], tmp_path, nan_truth)
    assert v.gate == "no-data" and "no finite ground truth over 5.9" in v.reason, v


def test_eskf_error_budget_fail(real_records, tmp_path) -> None:
    def tight(rows):
        rows[0]["scenario"]["gates"]["eskf_divergence"]["sigma_vpr_m"] = 0.5
        return rows

    v = _eskf(real_records["oracle"], tmp_path, tight)
    assert v.gate == "eskf-divergence" and (v.reason.startswith("error budget") or "D" in v.reason)


def test_eskf_d0_on_a_nan_state(real_records, tmp_path) -> None:
    def nan_state(rows):
        states = [r for r in rows if is_("eskf", "state")(r)]
        states[len(states) // 2]["p_ned_m"] = [None, 0.0, 0.0]
        return rows

    v = _eskf(real_records["oracle"], tmp_path, nan_state)
    assert v.gate == "eskf-divergence" and v.reason.startswith("D0 ")


def test_eskf_d4_and_d6_when_the_filter_rejects_good_fixes(real_records, tmp_path) -> None:
    """Every fix rejected though they were near truth: innovation collapse and coasting."""

    def rejected(rows):
        for r in rows:
            if is_("eskf", "fix")(r):
                r["accepted"] = False
        return rows

    v = _eskf(real_records["oracle"], tmp_path, rejected)
    assert v.gate == "eskf-divergence" and v.reason.startswith("D4 "), v
    assert {"D4@0.0s", "D6@0.0s"} <= set(v.metrics["eskf-divergence"]["triggers"])


def test_latency_budget_pass_fail_and_no_data(real_records, tmp_path) -> None:
    src = real_records["oracle"]

    def budget(**spec):
        def edit(rows):
            rows[0]["scenario"]["gates"]["latency_budget"] = spec
            return rows

        return edit

    tiny = judge(src, tmp_path, budget(stages={"eskf": {"p95_ms": 1e-6, "min_samples": 5}}))
    assert tiny.gate == "latency-budget" and "eskf: p95" in tiny.reason
    thin = judge(src, tmp_path, budget(stages={"eskf": {"p95_ms": 1000, "min_samples": 10**6}}))
    assert thin.gate == "no-data" and "latency samples < min_samples" in thin.reason
    assert judge(src, tmp_path, budget()).gate == "pass"


def test_a_malformed_line_is_located_infra_error(real_records, tmp_path) -> None:
    rows = lines_of(real_records["oracle"])
    k = next(i for i, r in enumerate(rows) if is_("eskf", "state")(r))
    rows[k]["P_hh"] = "big"
    path = tmp_path / "record.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    v = classify(read_record(path))
    assert v.gate == "infra-error" and f"record.jsonl:{k + 1}:" in v.reason and "P_hh" in v.reason


@pytest.mark.parametrize("category", ["config-error", "infra-error"])
def test_a_setup_error_is_the_broken_run_it_names(real_records, tmp_path, category) -> None:
    def broken(rows):
        err = {"kind": "event", "stage": "setup", "type": "error", "category": category}
        return [*rows[:-1], {**err, "message": "the clip has no IMU"}, rows[-1]]

    v = judge(real_records["oracle"], tmp_path, broken)
    assert v.gate == category and v.reason == "the clip has no IMU"
