"""The retrieval-quality gate: recall@N of query frames against the tile corpus."""

from __future__ import annotations

from typing import Literal

import numpy as np

from harness.clip.geo import inside_polygon
from harness.gates.result import GateResult, GateSpec, spec_of
from harness.record import Record


class RetrievalQualitySpec(GateSpec):
    # Defaults are the reference's bar (docs/contracts.md): the fix is the top-1 tile, a hit
    # is the true position inside that tile's footprint (the aerial VPR convention), 0.80.
    recall_at: int = 1
    hit_rule: Literal["footprint", "radius"] = "footprint"
    radius_m: float = 25.0
    min_recall: float = 0.8
    min_queries: int = 30
    applies: bool = True


def is_hit(hit: dict, truth: np.ndarray, spec: RetrievalQualitySpec) -> bool:
    if spec.hit_rule == "footprint":
        return inside_polygon(truth, np.asarray(hit["footprint_ne_m"], dtype=float))
    return float(np.linalg.norm(np.asarray(hit["centre_ne_m"]) - truth)) <= spec.radius_m


def check(record: Record) -> GateResult:
    spec = spec_of(record.scenario, "retrieval_quality", RetrievalQualitySpec)
    queries = [q for q in record.select("vpr", "query") if q.get("topk") is not None]
    judged = [q for q in queries if q.get("truth_ne_m") is not None]
    hits = sum(
        any(is_hit(h, np.asarray(q["truth_ne_m"]), spec) for h in q["topk"][: spec.recall_at])
        for q in judged
    )
    recall = hits / len(judged) if judged else None
    rule = spec.hit_rule if spec.hit_rule == "footprint" else f"within {spec.radius_m:g} m"
    metrics = {"queries": len(judged), "recall": recall, "recall_at": spec.recall_at, "rule": rule}
    if not spec.applies:
        return GateResult("n/a", "the scenario declares this gate does not apply", metrics)
    if len(judged) < spec.min_queries:
        return GateResult(
            "no-data",
            f"{len(judged)} queries with ground truth < min_queries {spec.min_queries}",
            metrics,
        )
    reason = (
        f"recall@{spec.recall_at} ({rule}) {recall:.2f} "
        f"{'<' if recall < spec.min_recall else '>='} {spec.min_recall:.2f} "
        f"over {len(judged)} queries"
    )
    return GateResult("fail" if recall < spec.min_recall else "pass", reason, metrics)
