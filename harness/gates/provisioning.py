"""The empty-backbones SKIP gate and the provisioning gate, judged from provisioning events."""

from __future__ import annotations

from harness.gates.result import GateResult
from harness.record import Record


def check_backbones(record: Record) -> GateResult:
    events = list(record.select("provisioning", "backbones"))
    if not events:
        return GateResult("no-data", "the run recorded no c10_provisioning.backbones list")
    ev = events[-1]
    if ev.get("count", 0) == 0:
        return GateResult(
            "skip",
            f"c10_provisioning.backbones is empty in {ev.get('source', 'the operator config')}: "
            "nothing is provisioned",
        )
    return GateResult("pass", metrics={"backbones": ev.get("names", [])})


def check(record: Record) -> GateResult:
    checks = list(record.select("provisioning", "check"))
    if not checks:
        return GateResult("no-data", "no provisioning check was recorded")
    failed = [c for c in checks if not c.get("ok")]
    metrics = {"checks": len(checks), "failed": [f"{c['backbone']}:{c['check']}" for c in failed]}
    if failed:
        first = failed[0]
        reason = f"{first['backbone']}: {first['check']} failed: {first.get('detail', '')}"
        if len(failed) > 1:
            reason += f" (+{len(failed) - 1} more)"
        return GateResult("fail", reason, metrics)
    return GateResult("pass", metrics=metrics)
