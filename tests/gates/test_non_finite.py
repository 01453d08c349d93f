"""No comparison with a non-finite number decides a verdict.

Every numeric field of every line the gates read, in the records the run driver really wrote
(tests/gates/conftest.py), is set to NaN, inf, -inf or null; where the field is a gate's
evidence the run must stop at that gate or before (a located no-data, FAIL or infra-error),
and the gate itself must not PASS. `FIELDS` says, for every numeric field found, which gate
it is evidence for (None: no gate reads it); a field it does not name fails the test, so a new
field needs that decision.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from harness.gates import ALL_GATES, CHECKS, LADDER, conclude
from harness.gates.fields import Malformed
from harness.record import read_record
from tests.gates.mutate import lines_of, write

ESKF, RETRIEVAL = "eskf-divergence", "retrieval-quality"
VPR, LATENCY = "vpr-contract", "latency-budget"
# line -> {dotted path prefix ("*" for any list index): the gate it is evidence for, or None}
FIELDS: dict[str, dict[str, str | None]] = {
    "condition": {
        "scenario": None,  # the resolved scenario: only its gate thresholds are read
        "scenario.gates.vpr_contract": VPR,
        "scenario.gates.retrieval_quality": RETRIEVAL,
        "scenario.gates.eskf_divergence": ESKF,
        "scenario.gates.latency_budget": LATENCY,
        "config": None,
        "provenance.clip_duration_s": ESKF,
    },
    "provisioning/backbones": {"count": "empty-backbones", "descriptor_dim": VPR},
    "vpr/query": {
        "frame": None,
        "t_s": None,  # judged at the driver's vpr/expected times; the frame matches it
        "latency_ms": LATENCY,
        "topk.*.score": None,
        "topk.*.centre_ne_m": None,  # the records judge by footprint
        "topk.*.footprint_ne_m": RETRIEVAL,
        "align": None,
        "descriptor": VPR,
    },
    "vpr/expected": {"frames": RETRIEVAL, "t_s": RETRIEVAL, "rate_hz": None},
    "vpr/spread": {"queries": None, "mean_cosine": None, "min_cosine": VPR},
    "vpr/corpus": {"tiles": None, "seconds": None},
    "vpr/oracle": {"": None},
    "eskf/init": {"": None},
    "eskf/state": {"": ESKF, "v_ned_m_s": None},
    "eskf/fix": {
        "t_s": ESKF,
        "z_ne_m": ESKF,
        "sigma_m": None,
        "innovation_m": None,
        "S": None,
        "nis": None,
    },
    "eskf/baro": {"": None},
    "eskf/throughput": {"": None},
    "latency/sample": {"ms": LATENCY},
    "truth/sample": {
        "t_s": ESKF,
        "p_ned_m.0": ESKF,
        "p_ned_m.1": ESKF,
        "p_ned_m.2": None,
        "q_wxyz": ESKF,
    },
    "truth/span": {"t_s": ESKF, "to_s": ESKF},
    "run/compute": {"": None},
}
# Evidence that may still PASS when the verdict says it was not judged: truth without attitude
# leaves the heading unjudged over a span, and the eskf-divergence metrics name it.
SAID = {("truth/sample", "q_wxyz"): "heading_unjudged"}
BAD = (math.nan, math.inf, -math.inf, None)
SOURCES = ("oracle", "netvlad")
SETTINGS = settings(
    max_examples=200,
    deadline=None,
    database=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def line_key(row: dict[str, Any]) -> str:
    if row.get("kind") == "condition":
        return "condition"
    return f"{row.get('stage')}/{row.get('type')}"


def leaves(obj: Any, path: tuple = ()) -> Iterator[tuple]:
    """The path of every number in `obj` (bools are not numbers)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k not in ("kind", "stage", "type"):
                yield from leaves(v, (*path, k))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from leaves(v, (*path, i))
    elif isinstance(obj, (int, float)) and not isinstance(obj, bool):
        yield path


def pattern_of(key: str, path: tuple) -> str | None:
    """The longest `FIELDS[key]` pattern that covers `path`; None when none does."""
    best = None
    for pattern in FIELDS.get(key, {}):
        parts = pattern.split(".") if pattern else []
        if len(parts) <= len(path) and all(
            (p == "*" and isinstance(x, int)) or p == str(x)
            for p, x in zip(parts, path[: len(parts)], strict=True)
        ):
            best = pattern if best is None or len(pattern) > len(best) else best
    return best


@pytest.fixture(scope="module")
def sources(real_records, tmp_path_factory) -> dict[str, list[dict[str, Any]]]:
    """The records' lines; the netvlad one with a latency budget, so its vpr latency is judged."""
    out = {name: lines_of(real_records[name]) for name in SOURCES}
    gates = out["netvlad"][0]["scenario"]["gates"]
    gates["latency_budget"] = {"p95_ms": 1e9, "min_samples": 5}
    root = tmp_path_factory.mktemp("sources")
    for name, rows in out.items():  # each source judges as the test expects before mutation
        verdict = conclude(write(root / f"{name}.jsonl", rows))
        assert verdict.gate == ("pass" if name == "oracle" else ESKF), verdict
    return out


@pytest.fixture(scope="module")
def applies(sources, tmp_path_factory) -> set[tuple[str, str]]:
    """(source, gate) where the gate judges the unmutated record (not n/a): its evidence."""
    root = tmp_path_factory.mktemp("applies")
    out = set()
    for name, rows in sources.items():
        record = read_record(write(root / f"{name}.jsonl", rows))
        out |= {(name, gate) for gate, check in CHECKS if check(record).outcome != "n/a"}
    return out


def test_every_numeric_field_the_records_hold_is_classified(sources) -> None:
    unnamed = sorted(
        {
            f"{line_key(row)}: {'.'.join(map(str, path))}"
            for rows in sources.values()
            for row in rows
            for path in leaves(row)
            if pattern_of(line_key(row), path) is None
        }
    )
    assert not unnamed, f"say in FIELDS whether these are a gate's evidence: {unnamed}"


COMBOS = [
    (source, key, pattern, value)
    for source in SOURCES
    for key, patterns in FIELDS.items()
    for pattern, gate in patterns.items()
    if gate is not None
    for value in BAD
]


def _set(obj: Any, path: tuple, value: Any) -> None:
    for step in path[:-1]:
        obj = obj[step]
    obj[path[-1]] = value


def _example(combo) -> Any:
    return example(combo=combo, pick=0.5)


def _given(test):
    for combo in COMBOS:  # every field and value once, then random lines and elements
        test = _example(combo)(test)
    return given(combo=st.sampled_from(COMBOS), pick=st.floats(0, 1, exclude_max=True))(test)


def test_a_non_finite_evidence_field_never_passes(sources, applies, tmp_path: Path) -> None:
    seen: set[tuple] = set()

    @SETTINGS
    @_given
    def prop(combo: tuple, pick: float) -> None:
        source, key, pattern, value = combo
        if value is None and pattern.startswith("scenario.gates"):
            return  # a null threshold is one left unset, which the schema allows
        rows = json.loads(json.dumps(sources[source]))
        targets = [
            (i, path)
            for i, row in enumerate(rows)
            if line_key(row) == key
            for path in leaves(row)
            if pattern_of(key, path) == pattern
        ]
        gate = FIELDS[key][pattern]
        if not targets or (source, gate) not in applies:
            return  # this record holds no such field, or its gate does not judge this record
        i, path = targets[int(pick * len(targets))]
        _set(rows[i], path, value)
        record = write(tmp_path / "record.jsonl", rows)
        verdict = conclude(record)
        where = f"{source} line {i + 1} {key} {'.'.join(map(str, path))} = {value}"
        assert verdict.gate in ALL_GATES and "could not judge" not in verdict.reason, where
        said = SAID.get((key, pattern))
        if said and said in verdict.metrics.get(gate, {}):
            return  # judged without it, and the verdict says where
        assert verdict.rank is None or verdict.rank <= LADDER.index(gate), (where, verdict)
        try:
            result = dict(CHECKS)[gate](read_record(record))
        except Malformed:
            pass  # a located infra-error
        else:
            assert result.outcome != "pass", (where, result)
        seen.add((source, key, pattern, value))

    prop()
    assert len(seen) > len(COMBOS) / 3, f"only {len(seen)} of {len(COMBOS)} mutations applied"
