"""The vpr-contract gate: every query descriptor has the promised shape, dtype, finiteness, norm."""

from __future__ import annotations

from harness.gates.result import GateResult, GateSpec, spec_of
from harness.record import Record


class VprContractSpec(GateSpec):
    descriptor_dim: int = 4096
    norm_tol: float = 1e-2
    min_queries: int = 1
    # Query descriptors whose least similar pair is still this alike have collapsed.
    collapse_min_cosine: float = 0.9999


def check(record: Record) -> GateResult:
    spec = spec_of(record.scenario, "vpr_contract", VprContractSpec)
    # A stack run by the process adapter answered before its frame existed (harness.process).
    if breaches := list(record.select("vpr", "causality")):
        first, more = breaches[0], f" (+{len(breaches) - 1} more)" if len(breaches) > 1 else ""
        reason = f"causality broken: stack output line {first['line']}: {first['reason']}{more}"
        return GateResult("fail", reason, {"causality_breaches": len(breaches)})
    if (record.scenario.get("vpr") or {}).get("strategy") == "oracle":
        return GateResult("n/a", "the oracle strategy makes no descriptors")
    queries = [q for q in record.select("vpr", "query") if "descriptor" in q]
    if len(queries) < spec.min_queries:
        return GateResult(
            "no-data", f"{len(queries)} described queries < min_queries {spec.min_queries}"
        )
    broken = []
    for q in queries:
        d = q["descriptor"]
        if d.get("shape", [None])[-1] != spec.descriptor_dim:
            broken.append(f"frame {q.get('frame')}: shape {d.get('shape')}")
        elif not d.get("finite", False):
            broken.append(f"frame {q.get('frame')}: non-finite values")
        elif d.get("norm") is None or abs(d["norm"] - 1.0) > spec.norm_tol:
            broken.append(
                f"frame {q.get('frame')}: norm {d.get('norm')} not within 1±{spec.norm_tol}"
            )
    metrics = {"queries": len(queries), "broken": len(broken)}
    for spread in record.select("vpr", "spread"):
        metrics["min_cosine"] = spread["min_cosine"]
        if spread["min_cosine"] > spec.collapse_min_cosine:
            broken.append(
                f"descriptors collapsed: every pair of {spread['queries']} queries has cosine "
                f">= {spread['min_cosine']:.6f} (> {spec.collapse_min_cosine}); check the "
                "encoder's initialisation or weights"
            )
    if broken:
        return GateResult("fail", f"descriptor contract broken: {broken[0]}", metrics)
    return GateResult("pass", metrics=metrics)
