"""The latency-budget gate: per-frame latency percentiles against the scenario's budget."""

from __future__ import annotations

import numpy as np

from harness.gates.result import GateResult, GateSpec, spec_of
from harness.record import Record


class LatencyBudgetSpec(GateSpec):
    p95_ms: float | None = None
    max_ms: float | None = None
    min_samples: int = 20


def check(record: Record) -> GateResult:
    spec = spec_of(record.scenario, "latency_budget", LatencyBudgetSpec)
    samples = [q["latency_ms"] for q in record.select("vpr", "query") if "latency_ms" in q]
    if spec.p95_ms is None and spec.max_ms is None:
        return GateResult("n/a", "the scenario sets no latency budget")
    if len(samples) < spec.min_samples:
        return GateResult("no-data", f"{len(samples)} latency samples < {spec.min_samples}")
    p95, worst = float(np.percentile(samples, 95)), float(np.max(samples))
    metrics = {"p95_ms": p95, "max_ms": worst, "samples": len(samples)}
    if spec.p95_ms is not None and p95 > spec.p95_ms:
        return GateResult("fail", f"p95 latency {p95:.1f} ms > {spec.p95_ms:g} ms", metrics)
    if spec.max_ms is not None and worst > spec.max_ms:
        return GateResult("fail", f"max latency {worst:.1f} ms > {spec.max_ms:g} ms", metrics)
    return GateResult("pass", metrics=metrics)
