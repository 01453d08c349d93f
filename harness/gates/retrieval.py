"""The retrieval-quality gate: recall@N of query frames against the tile corpus.

Truth comes from the record's truth lines (the stack never sees it), looked up at each
query's time; a query without finite truth is not judged, and too few judged is no-data. The
queries judged are the frames the driver asked for (`vpr/expected`), each a miss when the
stack left it unanswered, not the ones the stack chose to answer. A top-N tile whose centre
or footprint is not finite cannot be judged a hit or a miss (a comparison with NaN is silently
false): the gate is no-data naming the query lines. The hit radius is never smaller than
the truth's own stated 95 % uncertainty (`truth/span` `horizontal_95_m`, e.g. a survey's GNSS,
frame-time offset and camera pointing): a radius inside the truth's error would call right
answers misses.
"""

from __future__ import annotations

import math
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


def truth_floor_m(record: Record) -> float | None:
    """The truth's stated 95 % horizontal uncertainty [m], None when the record states none."""
    span = next(iter(record.select("truth", "span")), None)
    if span is None or span.get("horizontal_95_m") is None:
        return None
    value = number(record, span, "horizontal_95_m")
    if not math.isfinite(value) or value < 0:
        raise Malformed(
            f"{record.where(span)}: truth/span field 'horizontal_95_m' is {value}, not a "
            "finite non-negative number of metres"
        )
    return value


def is_hit(hit: dict, truth: np.ndarray, spec: RetrievalQualitySpec) -> bool:
    if spec.hit_rule == "footprint":
        return inside_polygon(truth, np.asarray(hit["footprint_ne_m"], dtype=float))
    return float(np.linalg.norm(np.asarray(hit["centre_ne_m"]) - truth)) <= spec.radius_m


def judged_queries(
    record: Record, spec: RetrievalQualitySpec
) -> tuple[list[tuple[list, np.ndarray]], int, list[str]]:
    """(top-N hits, true north/east) of each judged query, in order; how many of them the
    stack left unanswered (judged with no hits); and the lines of queries whose top-N geometry
    is not finite (not judged). With the driver's `vpr/expected`, every expected frame is
    judged; without it, every query the stack wrote."""
    truth = TruthTrack.of(record)
    written = [q for q in record.select("vpr", "query") if q.get("topk") is not None]
    expect = Expected.of(record)
    if expect is not None:
        queries, t = expect.answers(written), expect.t_s
    else:
        queries = written
        t = np.array([number(record, q, "t_s") for q in queries])
    if truth is None or not queries:
        return [], 0, []
    at = truth.position_ne(t)
    out, unanswered, not_finite = [], 0, []
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
        if all(np.all(np.isfinite(h[key])) for h in hits):
            out.append((hits, p))
        else:
            not_finite.append(record.where(q))
    return out, unanswered, not_finite


def _recall(judged: list[tuple[list, np.ndarray]], spec: RetrievalQualitySpec) -> float | None:
    hits = sum(any(is_hit(h, p, spec) for h in top) for top, p in judged)
    return hits / len(judged) if judged else None


def _also(record: Record, spec: RetrievalQualitySpec) -> dict[int, float]:
    """recall@1 and @5 beside the bar's N, where every query answered returned that many."""
    tops = [q["topk"] for q in record.select("vpr", "query") if isinstance(q.get("topk"), list)]
    out = {}
    for n in (1, 5):
        if n != spec.recall_at and tops and min(len(t) for t in tops) >= n:
            other = spec.model_copy(update={"recall_at": n})
            judged, _, not_finite = judged_queries(record, other)
            recall = _recall(judged, other)
            if recall is not None and not not_finite:
                out[n] = recall
    return out


def check(record: Record) -> GateResult:
    spec = spec_of(record, "retrieval_quality", RetrievalQualitySpec)
    floor = truth_floor_m(record) if spec.hit_rule == "radius" else None
    raised = floor is not None and floor > spec.radius_m
    if raised:
        spec = spec.model_copy(update={"radius_m": floor})
    judged, unanswered, not_finite = judged_queries(record, spec)
    recall = _recall(judged, spec)
    rule = spec.hit_rule if spec.hit_rule == "footprint" else f"within {spec.radius_m:g} m"
    if raised:
        rule += " (the truth's 95 % uncertainty)"
    metrics = {
        "queries": len(judged),
        "unanswered": unanswered,
        "recall": recall,
        "recall_at": spec.recall_at,
        "rule": rule,
    }
    if floor is not None:
        metrics["truth_uncertainty_95_m"] = floor
    if not spec.applies:
        return GateResult("n/a", "the scenario declares this gate does not apply", metrics)
    if not_finite:
        more = f" (+{len(not_finite) - 3} more)" if len(not_finite) > 3 else ""
        metrics["not_finite"] = len(not_finite)
        return GateResult(
            "no-data",
            f"{len(not_finite)} queries hold a top-{spec.recall_at} tile whose "
            f"{'footprint' if spec.hit_rule == 'footprint' else 'centre'} is not finite "
            f"({', '.join(not_finite[:3])}{more})",
            metrics,
        )
    if len(judged) < spec.min_queries:
        return GateResult(
            "no-data",
            f"{len(judged)} queries with ground truth < min_queries {spec.min_queries}",
            metrics,
        )
    missing = f" ({unanswered} unanswered)" if unanswered else ""
    also = _also(record, spec)
    metrics.update({f"recall_at_{n}": r for n, r in also.items()})
    beside = "".join(f" (recall@{n} {r:.2f})" for n, r in also.items())
    reason = (
        f"recall@{spec.recall_at} ({rule}) {recall:.2f} "
        f"{'<' if recall < spec.min_recall else '>='} {spec.min_recall:.2f}{beside} "
        f"over {len(judged)} queries{missing}"
    )
    return GateResult("fail" if recall < spec.min_recall else "pass", reason, metrics)
