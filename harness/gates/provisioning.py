"""The empty-backbones SKIP gate and the provisioning gate, judged from provisioning events."""

from __future__ import annotations

from harness.gates.fields import flag, number, text
from harness.gates.result import GateResult
from harness.record import Record


def check_backbones(record: Record) -> GateResult:
    """SKIP when the stack says it provisions nothing (its `provisioning/backbones` event with
    count 0: e.g. the reference stack's `c10_provisioning.backbones: []`). A stack that lists
    no backbones is not judged here (n/a): the provisioning gate still asks for its checks."""
    events = list(record.select("provisioning", "backbones"))
    if not events:
        return GateResult("n/a", "the stack recorded no backbones list")
    ev = events[-1]
    if number(record, ev, "count") == 0:
        what = text(ev, "what", "the backbones list")
        return GateResult(
            "skip",
            f"{what} is empty in {text(ev, 'source', 'the stack configuration')}: "
            "nothing is provisioned",
        )
    names = ev.get("names")
    return GateResult("pass", metrics={"backbones": names if isinstance(names, list) else []})


def check(record: Record) -> GateResult:
    checks = list(record.select("provisioning", "check"))
    if not checks:
        return GateResult("no-data", "no provisioning check was recorded")
    failed = [c for c in checks if not flag(record, c, "ok")]
    names = [f"{text(c, 'backbone')}:{text(c, 'check')}" for c in failed]
    metrics = {"checks": len(checks), "failed": names}
    if failed:
        first = failed[0]
        reason = f"{names[0].replace(':', ': ', 1)} failed: {text(first, 'detail', '')}"
        if len(failed) > 1:
            reason += f" (+{len(failed) - 1} more)"
        return GateResult("fail", reason, metrics)
    return GateResult("pass", metrics=metrics)
