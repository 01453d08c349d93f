"""The eskf-divergence gate: the filter's horizontal error against ground truth."""

from __future__ import annotations

import numpy as np

from harness.gates.result import GateResult, GateSpec, spec_of
from harness.record import Record


class EskfDivergenceSpec(GateSpec):
    sigma_vpr_m: float = 25.0
    warmup_s: float = 20.0
    min_states: int = 50


def check(record: Record) -> GateResult:
    spec = spec_of(record.scenario, "eskf_divergence", EskfDivergenceSpec)
    states = [
        s
        for s in record.select("eskf", "state")
        if s.get("truth_p_ned_m") is not None and s["t_s"] >= spec.warmup_s
    ]
    if len(states) < spec.min_states:
        return GateResult(
            "no-data", f"{len(states)} filter states with truth after warm-up < {spec.min_states}"
        )
    est = np.array([s["p_ned_m"][:2] for s in states], dtype=float)
    truth = np.array([s["truth_p_ned_m"][:2] for s in states], dtype=float)
    err = np.linalg.norm(est - truth, axis=1)
    metrics = {
        "rmse_m": float(np.sqrt(np.mean(err**2))),
        "p95_m": float(np.percentile(err, 95)),
        "final_m": float(err[-1]),
    }
    sigma = spec.sigma_vpr_m
    if not np.all(np.isfinite(err)):
        return GateResult("fail", "D0 numerical: non-finite filter state", metrics)
    if (
        metrics["rmse_m"] > sigma
        or metrics["p95_m"] > 2.5 * sigma
        or metrics["final_m"] > 2 * sigma
    ):
        return GateResult(
            "fail",
            f"horizontal error RMSE {metrics['rmse_m']:.1f} m, p95 {metrics['p95_m']:.1f} m, "
            f"final {metrics['final_m']:.1f} m over budget (sigma_vpr_m {sigma:g})",
            metrics,
        )
    return GateResult("pass", metrics=metrics)
