"""The latency-budget gate: p95 and max per stage against the scenario's budget.

Samples come from the run record: `latency_ms` on `vpr/query` events (stage `vpr`) and
`latency/sample` events (`stage_name`, `ms`) for any other stage. Top-level thresholds apply
to every stage seen; `stages:` sets or overrides them per stage. A judged stage with fewer
than `min_samples` samples, or holding a sample that is not finite (a NaN p95 compares false
with any budget), is `no-data` naming them (never a silent pass); a stage over budget fails
even when another lacks data. The device's telemetry (tegrastats on a Jetson, psutil on a
CPU host) is summarised beside the figures so a verdict says what the device was doing.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np
from pydantic import Field

from harness.gates import sweep
from harness.gates.result import GateResult, GateSpec, spec_of
from harness.record import Record

VPR_STAGE = "vpr"


class StageBudget(GateSpec):
    """One stage's budget; unset keys fall back to the top-level ones."""

    p95_ms: float | None = Field(None, gt=0)
    max_ms: float | None = Field(None, gt=0)
    min_samples: int | None = Field(None, ge=1)


class LatencyBudgetSpec(GateSpec):
    """`gates.latency_budget` in a scenario (milliseconds; samples per stage)."""

    p95_ms: float | None = Field(None, gt=0)
    max_ms: float | None = Field(None, gt=0)
    min_samples: int = Field(20, ge=1)
    stages: dict[str, StageBudget] = Field(default_factory=dict)

    def budget(self, stage: str) -> tuple[float | None, float | None, int]:
        own = self.stages.get(stage) or StageBudget()
        p95 = own.p95_ms if own.p95_ms is not None else self.p95_ms
        worst = own.max_ms if own.max_ms is not None else self.max_ms
        return p95, worst, own.min_samples or self.min_samples

    @property
    def empty(self) -> bool:
        named = any(b.p95_ms or b.max_ms for b in self.stages.values())
        return self.p95_ms is None and self.max_ms is None and not named


def samples_by_stage(record: Record) -> tuple[dict[str, list[float]], dict[str, list[str]]]:
    """Every latency sample in the record grouped by stage name (a null or non-finite one as
    NaN, so it cannot go unseen), and where each non-finite one sits (`record.jsonl:LINE`)."""
    out: dict[str, list[float]] = defaultdict(list)
    where: dict[str, list[str]] = defaultdict(list)

    def add(stage: str, ev: dict[str, Any], key: str) -> None:
        v = ev.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
            return
        value = math.nan if v is None else float(v)
        out[stage].append(value if math.isfinite(value) else math.nan)
        if not math.isfinite(value):
            where[stage].append(record.where(ev))

    for q in record.select("vpr", "query"):
        if "latency_ms" in q:
            add(VPR_STAGE, q, "latency_ms")
    for s in record.select("latency", "sample"):
        add(str(s.get("stage_name") or s.get("name") or "unnamed"), s, "ms")
    return dict(out), dict(where)


def telemetry_summary(record: Record) -> dict[str, Any]:
    """Peak RAM, mean CPU/GPU load and the hottest sensor over the run's telemetry samples."""
    samples = list(record.select("telemetry", "sample"))
    if not samples:
        return {}

    def values(key: str) -> list[float]:
        return [
            float(s[key])
            for s in samples
            if isinstance(s.get(key), (int, float)) and not isinstance(s.get(key), bool)
        ]

    temps = [
        float(t)
        for s in samples
        if isinstance(s.get("temps_c"), dict)
        for t in s["temps_c"].values()
        if isinstance(t, (int, float)) and not isinstance(t, bool)
    ]
    ram, cpu, gpu = values("ram_used_mb"), values("cpu_load_pct"), values("gpu_load_pct")
    source = samples[0].get("source")
    summary: dict[str, Any] = {"source": source if isinstance(source, str) else None}
    summary["samples"] = len(samples)
    if ram:
        summary["ram_peak_mb"] = max(ram)
    if cpu:
        summary["cpu_load_mean_pct"] = round(float(np.mean(cpu)), 1)
    if gpu:
        summary["gpu_load_mean_pct"] = round(float(np.mean(gpu)), 1)
    if temps:
        summary["temp_max_c"] = max(temps)
    return summary


def judge(
    samples: dict[str, list[float]],
    spec: LatencyBudgetSpec,
    where: dict[str, list[str]] | None = None,
) -> GateResult:
    """The gate's decision on plain numbers (the record-free core, tested directly).

    A stage holding a non-finite sample (NaN, inf, a null the record wrote for one) is not
    judged on the rest: it is no-data naming the samples (`where`: their record lines).
    """
    if spec.empty:
        return GateResult("n/a", "the scenario sets no latency budget")
    judged = sorted(set(spec.stages) | (set(samples) if spec.p95_ms or spec.max_ms else set()))
    if not judged:
        return GateResult("no-data", "no latency samples in the record")
    metrics: dict[str, Any] = {}
    over, thin = [], []
    for stage in judged:
        p95_budget, max_budget, need = spec.budget(stage)
        values = samples.get(stage, [])
        if bad := [i for i, v in enumerate(values) if not math.isfinite(v)]:
            at = (where or {}).get(stage) or [f"sample #{i + 1}" for i in bad]
            more = f" (+{len(at) - 3} more)" if len(at) > 3 else ""
            thin.append(
                f"{stage}: {len(bad)} of {len(values)} latency samples are not finite "
                f"({', '.join(at[:3])}{more})"
            )
            metrics[stage] = {"samples": len(values), "not_finite": len(bad)}
            continue
        if len(values) < need:
            thin.append(f"{stage}: {len(values)} latency samples < min_samples {need}")
            metrics[stage] = {"samples": len(values)}
            continue
        p95, worst = float(np.percentile(values, 95)), float(np.max(values))
        metrics[stage] = {"p95_ms": round(p95, 3), "max_ms": round(worst, 3)}
        metrics[stage]["samples"] = len(values)
        if p95_budget is not None and p95 > p95_budget:
            over.append(f"{stage}: p95 {p95:.1f} ms > p95_ms {p95_budget:g} ms")
        if max_budget is not None and worst > max_budget:
            over.append(f"{stage}: max {worst:.1f} ms > max_ms {max_budget:g} ms")
    if over:
        return GateResult("fail", "; ".join(over), metrics)
    if thin:
        return GateResult("no-data", "; ".join(thin), metrics)
    return GateResult("pass", "", metrics)


def both(budget: GateResult, swept: GateResult) -> GateResult:
    """The per-sample budget's result and the sweep's as one: a failure of either fails, then
    no-data, then a pass (n/a only when neither applies). The sweep's figures under `sweep`."""
    if swept.outcome == "n/a":
        return budget
    metrics = {**budget.metrics, "sweep": swept.metrics}
    if budget.outcome == "n/a":
        return GateResult(swept.outcome, swept.reason, metrics)
    for outcome in ("fail", "no-data"):
        said = [r.reason for r in (budget, swept) if r.outcome == outcome]
        if said:
            return GateResult(outcome, "; ".join(said), metrics)
    return GateResult("pass", "; ".join(r.reason for r in (budget, swept) if r.reason), metrics)


def describe(device: dict[str, Any]) -> str:
    """What the device was doing, in a few words, for a verdict's reason."""
    parts = [
        f"CPU {device['cpu_load_mean_pct']:g} % mean" if "cpu_load_mean_pct" in device else "",
        f"GPU {device['gpu_load_mean_pct']:g} % mean" if "gpu_load_mean_pct" in device else "",
        f"RAM peak {device['ram_peak_mb']:.0f} MB" if "ram_peak_mb" in device else "",
        f"hottest {device['temp_max_c']:g} C" if "temp_max_c" in device else "",
    ]
    said = ", ".join(p for p in parts if p)
    return f"device: {said or 'no figures'} ({device['samples']} {device['source']} samples)"


def check(record: Record) -> GateResult:
    """The budgets on the run's samples and, with a `sweep:`, on the sustained rate
    (harness.gates.sweep): one verdict, the worse of the two."""
    spec = spec_of(record, "latency_budget", LatencyBudgetSpec)
    samples, where = samples_by_stage(record)
    result = both(judge(samples, spec, where), sweep.check(record))
    if result.outcome == "n/a":
        return result
    telemetry = telemetry_summary(record)
    if not telemetry:
        return result
    reason = f"{result.reason}; {describe(telemetry)}" if result.outcome == "fail" else ""
    return GateResult(
        result.outcome, reason or result.reason, {**result.metrics, "device": telemetry}
    )
