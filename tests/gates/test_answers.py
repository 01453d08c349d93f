"""Evidence counted by the harness: the frames the driver asked for (`vpr/expected`) are the
denominator, whatever the stack chose to answer; judged on the real netvlad record (20 query
frames at 2 Hz over the 10 s stand-in), edited as a stack that stays silent would write it."""

from __future__ import annotations

from pathlib import Path

from harness.gates import conclude, retrieval
from harness.record import read_record
from tests.gates.mutate import edited, is_


def judge(src: Path, tmp_path: Path, edit):
    return conclude(edited(src, tmp_path / "record.jsonl", edit))


def every_other(stage: str, type: str):
    """Drop every other `stage/type` line, as a stack that answers only half the frames."""

    def edit(rows):
        seen = 0
        out = []
        for r in rows:
            if is_(stage, type)(r):
                seen += 1
                if seen % 2 == 0:
                    continue
            out.append(r)
        return out

    return edit


def test_the_driver_records_the_query_frames_before_the_stack_answers(real_records) -> None:
    record = read_record(real_records["netvlad"])
    (expected,) = record.select("vpr", "expected")
    queries = list(record.select("vpr", "query"))
    assert expected["rate_hz"] == 2 and len(expected["frames"]) == 20
    assert [q["frame"] for q in queries] == expected["frames"]
    events = list(record.events)
    assert events.index(expected) < events.index(queries[0])


def test_an_unanswered_frame_is_a_miss_and_the_verdict_counts_them(real_records, tmp_path) -> None:
    whole = conclude(real_records["netvlad"]).metrics["retrieval-quality"]
    half = judge(real_records["netvlad"], tmp_path, every_other("vpr", "query"))
    metrics = half.metrics["retrieval-quality"]
    assert metrics["queries"] == whole["queries"] == 20
    assert metrics["unanswered"] == 10 and whole["unanswered"] == 0
    assert metrics["recall"] <= whole["recall"] / 2 + 1e-9

    def strict(rows):
        rows[0]["scenario"]["gates"]["retrieval_quality"].update(min_recall=0.6)
        return every_other("vpr", "query")(rows)

    verdict = judge(real_records["netvlad"], tmp_path, strict)
    assert verdict.gate == "retrieval-quality" and verdict.outcome == "fail"
    assert verdict.reason.endswith("over 20 queries (10 unanswered)"), verdict.reason


def test_silence_is_not_no_data_to_retrieval(real_records, tmp_path) -> None:
    """A stack that answers nothing was still asked 20 times: recall 0, not 'no evidence'
    (the verdict stops earlier, at vpr-contract's no-data: no descriptor to measure)."""
    path = edited(
        real_records["netvlad"],
        tmp_path / "record.jsonl",
        lambda rows: [r for r in rows if not is_("vpr", "query")(r)],
    )
    result = retrieval.check(read_record(path))
    assert result.outcome != "no-data" and "over 20 queries (20 unanswered)" in result.reason
    assert result.metrics["unanswered"] == 20 and result.metrics["recall"] == 0


def test_a_missing_fix_is_counted_as_one(real_records, tmp_path) -> None:
    verdict = judge(real_records["netvlad"], tmp_path, every_other("eskf", "fix"))
    whole = conclude(real_records["netvlad"]).metrics["eskf-divergence"]
    assert whole["missing_fixes"] == 0
    assert verdict.metrics["eskf-divergence"]["missing_fixes"] == 10


def test_a_second_expectation_is_a_located_infra_error(real_records, tmp_path) -> None:
    def twice(rows):
        at = next(i for i, r in enumerate(rows) if is_("vpr", "expected")(r))
        return [*rows[: at + 1], {**rows[at], "frames": [], "t_s": []}, *rows[at + 1 :]]

    verdict = judge(real_records["netvlad"], tmp_path, twice)
    assert verdict.gate == "infra-error"
    assert "a second vpr/expected line" in verdict.reason


def test_a_query_without_its_descriptor_breaks_the_contract(real_records, tmp_path) -> None:
    def strip_one(rows):
        first = next(r for r in rows if is_("vpr", "query")(r))
        first.pop("descriptor")
        return rows

    verdict = judge(real_records["netvlad"], tmp_path, strip_one)
    assert verdict.gate == "vpr-contract" and verdict.outcome == "fail"
    assert "no descriptor handed over" in verdict.reason
