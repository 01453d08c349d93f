"""The retrieval-quality gate: recall@N of query frames against the tile corpus.

Truth comes from the record's truth lines (the stack never sees it), looked up at each
query's time; a query without finite truth is not judged, and too few judged is no-data. The
queries judged are the frames the driver asked for (`vpr/expected`), each a miss when the
stack left it unanswered, not the ones the stack chose to answer.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from pydantic import Field

from harness.clip.geo import inside_polygon
from harness.gates.answers import Expected
from harness.gates.fields import Malformed, array, number
from harness.gates.result import GateResult, GateSpec, spec_of
from harness.gates.truth import TruthTrack
from harness.record import Record


class RetrievalQualitySpec(GateSpec):
    # Defaults are the reference's bar (docs/contracts.md): the fix is the top-1 tile, a hit
    # is the true position inside that tile's footprint (the aerial VPR convention), 0.80.
    recall_at: int = Field(1, ge=1)
    hit_rule: Literal["footprint", "radius"] = "footprint"
    radius_m: float = Field(25.0, gt=0)
    min_recall: float = Field(0.8, ge=0, le=1)
    min_queries: int = Field(30, ge=1)
    applies: bool = True


def is_hit(hit: dict, truth: np.ndarray, spec: RetrievalQualitySpec) -> bool:
    if spec.hit_rule == "footprint":
        return inside_polygon(truth, np.asarray(hit["footprint_ne_m"], dtype=float))
    return float(np.linalg.norm(np.asarray(hit["centre_ne_m"]) - truth)) <= spec.radius_m


def judged_queries(
    record: Record, spec: RetrievalQualitySpec
) -> tuple[list[tuple[list, np.ndarray]], int]:
    """(top-N hits, true north/east) of each judged query, in order, and how many of them the
    stack left unanswered (judged with no hits). With the driver's `vpr/expected`, every
    expected frame is judged; without it, every query the stack wrote."""
    truth = TruthTrack.of(record)
    written = [q for q in record.select("vpr", "query") if q.get("topk") is not None]
    expect = Expected.of(record)
    if expect is not None:
        queries, t = expect.answers(written), expect.t_s
    else:
        queries = written
        t = np.array([number(record, q, "t_s") for q in queries])
    if truth is None or not queries:
        return [], 0
    at = truth.position_ne(t)
    out, unanswered = [], 0
    for q, p in zip(queries, at, strict=True):
        if not np.all(np.isfinite(p)):
            continue
        if q is None:
            out.append(([], p))
            unanswered += 1
            continue
        top = q["topk"]
        if not isinstance(top, list) or not all(isinstance(h, dict) for h in top):
            raise Malformed(f"{record.where(q)}: vpr/query field 'topk' is not a list of tiles")
        key = "footprint_ne_m" if spec.hit_rule == "footprint" else "centre_ne_m"
        shape = (4, 2) if key == "footprint_ne_m" else (2,)
        hits = [{key: array(record, h, key, shape, line=q)} for h in top[: spec.recall_at]]
        out.append((hits, p))
    return out, unanswered


def check(record: Record) -> GateResult:
    spec = spec_of(record, "retrieval_quality", RetrievalQualitySpec)
    judged, unanswered = judged_queries(record, spec)
    hits = sum(any(is_hit(h, p, spec) for h in top) for top, p in judged)
    recall = hits / len(judged) if judged else None
    rule = spec.hit_rule if spec.hit_rule == "footprint" else f"within {spec.radius_m:g} m"
    metrics = {
        "queries": len(judged),
        "unanswered": unanswered,
        "recall": recall,
        "recall_at": spec.recall_at,
        "rule": rule,
    }
    if not spec.applies:
        return GateResult("n/a", "the scenario declares this gate does not apply", metrics)
    if len(judged) < spec.min_queries:
        return GateResult(
            "no-data",
            f"{len(judged)} queries with ground truth < min_queries {spec.min_queries}",
            metrics,
        )
    missing = f" ({unanswered} unanswered)" if unanswered else ""
    reason = (
        f"recall@{spec.recall_at} ({rule}) {recall:.2f} "
        f"{'<' if recall < spec.min_recall else '>='} {spec.min_recall:.2f} "
        f"over {len(judged)} queries{missing}"
    )
    return GateResult("fail" if recall < spec.min_recall else "pass", reason, metrics)
