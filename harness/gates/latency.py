"""The latency-budget gate: p95 and max per stage against the scenario's budget.

Samples come from the run record: `latency_ms` on `vpr/query` events (stage `vpr`) and
`latency/sample` events (`stage_name`, `ms`) for any other stage. Top-level thresholds apply
to every stage seen; `stages:` sets or overrides them per stage. A judged stage with fewer
than `min_samples` samples is `no-data` (never a silent pass); a stage over budget fails
even when another lacks data. The device's telemetry (tegrastats on a Jetson, psutil on a
CPU host) is summarised beside the figures so a verdict says what the device was doing.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import numpy as np
from pydantic import Field

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


def samples_by_stage(record: Record) -> dict[str, list[float]]:
    """Every finite latency sample in the record, grouped by stage name."""
    out: dict[str, list[float]] = defaultdict(list)
    for q in record.select("vpr", "query"):
        if isinstance(q.get("latency_ms"), (int, float)) and not isinstance(q["latency_ms"], bool):
            out[VPR_STAGE].append(float(q["latency_ms"]))
    for s in record.select("latency", "sample"):
        if isinstance(s.get("ms"), (int, float)) and not isinstance(s["ms"], bool):
            out[str(s.get("stage_name") or s.get("name") or "unnamed")].append(float(s["ms"]))
    return dict(out)


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


def judge(samples: dict[str, list[float]], spec: LatencyBudgetSpec) -> GateResult:
    """The gate's decision on plain numbers (the record-free core, tested directly)."""
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
    spec = spec_of(record, "latency_budget", LatencyBudgetSpec)
    result = judge(samples_by_stage(record), spec)
    if result.outcome == "n/a":
        return result
    telemetry = telemetry_summary(record)
    if not telemetry:
        return result
    reason = f"{result.reason}; {describe(telemetry)}" if result.outcome == "fail" else ""
    return GateResult(
        result.outcome, reason or result.reason, {**result.metrics, "device": telemetry}
    )
