"""The record fuzzer: mutated real records never crash classification, and a mutation that
removes evidence never PASSes.

Mutations of the records the run driver wrote (tests/gates/conftest.py): fields set to null,
strings, lists, objects, booleans or huge numbers; keys removed; lines deleted, duplicated,
swapped, torn or replaced by garbage. `HARNESS_FUZZ_CASES` sets the number of cases (a few
hundred in the suite; `bench/record_fuzz.py` runs thousands and prints the counts).
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.gates import ALL_GATES, conclude
from tests.gates.mutate import is_, lines_of, write

CASES = int(os.environ.get("HARNESS_FUZZ_CASES", "300"))
BAD_VALUES = st.sampled_from(
    [None, "x", "", [], [1, 2], {}, {"a": 1}, True, False, 1e308, -1, 0, "NaN", [None] * 3]
)
SETTINGS = settings(
    max_examples=CASES,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _mutate(data: st.DataObject, text: str) -> str:
    rows = text.splitlines()
    kind = data.draw(
        st.sampled_from(["field", "drop-key", "drop-line", "dup-line", "swap", "tear", "garbage"])
    )
    i = data.draw(st.integers(0, len(rows) - 1))
    if kind == "tear":
        cut = data.draw(st.integers(0, len(text)))
        return text[:cut]
    if kind == "drop-line":
        return "\n".join(rows[:i] + rows[i + 1 :]) + "\n"
    if kind == "dup-line":
        return "\n".join(rows[: i + 1] + rows[i:]) + "\n"
    if kind == "swap":
        j = data.draw(st.integers(0, len(rows) - 1))
        rows[i], rows[j] = rows[j], rows[i]
        return "\n".join(rows) + "\n"
    if kind == "garbage":
        rows[i] = data.draw(st.sampled_from(["{", "[]", "null", '"kind"', "\x00\x01", "{}"]))
        return "\n".join(rows) + "\n"
    obj = json.loads(rows[i])
    target = obj
    # Go one level into nested objects sometimes (descriptor, scenario.gates, ...).
    nested = [k for k, v in obj.items() if isinstance(v, dict) and v]
    if nested and data.draw(st.booleans()):
        target = obj[data.draw(st.sampled_from(sorted(nested)))]
    key = data.draw(st.sampled_from(sorted(target)))
    if kind == "drop-key":
        del target[key]
    else:
        target[key] = data.draw(BAD_VALUES)
    rows[i] = json.dumps(obj)
    return "\n".join(rows) + "\n"


def test_no_mutated_record_crashes_classification(real_records, tmp_path: Path) -> None:
    counts: Counter[str] = Counter()
    sources = sorted(real_records)

    @SETTINGS
    @given(st.data())
    def prop(data: st.DataObject) -> None:
        src = real_records[data.draw(st.sampled_from(sources))]
        text = "".join(json.dumps(r) + "\n" for r in lines_of(src))
        path = tmp_path / "record.jsonl"
        path.write_text(_mutate(data, text), encoding="utf-8")
        verdict = conclude(path)  # must not raise
        assert verdict.gate in ALL_GATES and isinstance(verdict.reason, str)
        assert "could not judge" not in verdict.reason, verdict.reason  # always located
        counts[verdict.gate] += 1

    prop()
    print(
        f"record fuzzer: {sum(counts.values())} mutated records -> {dict(sorted(counts.items()))}"
    )


def test_removing_evidence_never_passes(real_records, tmp_path: Path) -> None:
    """From a record that PASSes: cut it, or drop states, fixes or truth, and it does not."""
    src = real_records["oracle"]
    assert conclude(src).gate == "pass"
    rows = lines_of(src)
    duration = rows[0]["provenance"]["clip_duration_s"]
    counts: Counter[str] = Counter()

    @SETTINGS
    @given(
        st.sampled_from(["after", "truth-span", "stage", "tear", "no-end"]),
        st.floats(0.0, duration - 2.5),
        st.sampled_from([("eskf", "state"), ("eskf", "fix"), ("truth", "sample")]),
        st.floats(0.0, 1.0),
    )
    def prop(how: str, t: float, stage: tuple[str, str], frac: float) -> None:
        kept = list(rows)
        if how == "after":  # the stack stopped writing at t
            kept = [r for r in kept if not (is_("eskf")(r) and r.get("t_s", 0) > t)]
        elif how == "truth-span":  # truth missing for 2 s from t on
            kept = [r for r in kept if not (is_("truth")(r) and t <= r["t_s"] <= t + 2.0)]
        elif how == "stage":
            kept = [r for r in kept if not is_(*stage)(r)]
        elif how == "no-end":
            kept = [r for r in kept if r.get("kind") != "end"]
        path = write(tmp_path / "record.jsonl", kept)
        if how == "tear":  # cut anywhere before the end line
            text = path.read_text()
            path.write_text(text[: int(frac * text.rindex("\n", 0, len(text) - 1))])
        verdict = conclude(path)
        assert verdict.gate != "pass", (how, t, stage, frac, verdict)
        counts[f"{how}:{verdict.gate}"] += 1

    prop()
    print(f"evidence removal: {sum(counts.values())} records -> {dict(sorted(counts.items()))}")
