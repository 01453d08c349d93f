"""The gate taxonomy and the classification of a run record into one verdict.

Gates are ordered; a run stops at the first gate whose check does not pass. Beside the
ladder, `config-error` and `infra-error` say the run itself is broken (not a product
verdict) and `no-data` says a gate had too little evidence to judge (never a silent PASS).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from harness.errors import RecordError
from harness.gates import eskf, latency, provisioning, retrieval, vpr
from harness.gates.result import GateResult
from harness.gates.warnings import record_warnings
from harness.record import Record, read_record

LADDER = (
    "empty-backbones",
    "provisioning",
    "vpr-contract",
    "retrieval-quality",
    "eskf-divergence",
    "latency-budget",
    "pass",
)
BROKEN = ("config-error", "infra-error")
NO_DATA = "no-data"
ALL_GATES = (*BROKEN, *LADDER, NO_DATA)

Outcome = Literal["pass", "fail", "skip", "no-data", "error"]

CHECKS: tuple[tuple[str, Callable[[Record], GateResult]], ...] = (
    ("empty-backbones", provisioning.check_backbones),
    ("provisioning", provisioning.check),
    ("vpr-contract", vpr.check),
    ("retrieval-quality", retrieval.check),
    ("eskf-divergence", eskf.check),
    ("latency-budget", latency.check),
)

__all__ = ["ALL_GATES", "CHECKS", "LADDER", "GateResult", "Verdict", "classify", "read_verdict"]


@dataclass(frozen=True)
class Verdict:
    """Where a run stopped: the gate, its outcome, a one-line reason and the gates' figures."""

    gate: str
    outcome: Outcome
    reason: str
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def rank(self) -> int | None:
        """Position on the ladder; None for broken runs and no-data."""
        return LADDER.index(self.gate) if self.gate in LADDER else None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def broken(cls, category: str, reason: str) -> Verdict:
        return cls(category, "error", reason)


def classify(record: Record) -> Verdict:
    """Judge a record's condition and events (its verdict line, if any, is not consulted).

    Warnings (an unpinned checkpoint) ride along in `metrics["warnings"]` on every verdict.
    """
    verdict = _classify(record)
    if found := record_warnings(record):
        verdict = replace(verdict, metrics={**verdict.metrics, "warnings": found})
    return verdict


def _classify(record: Record) -> Verdict:
    if record.condition is None:
        return Verdict.broken("infra-error", f"{record.path}: the record has no condition line")
    for err in record.select("setup", "error"):
        return Verdict.broken(err.get("category", "infra-error"), err.get("message", "?"))
    metrics: dict[str, Any] = {}
    for gate, check in CHECKS:
        result = check(record)
        if result.metrics:
            metrics[gate] = result.metrics
        if result.outcome in ("pass", "n/a"):
            continue
        if result.outcome == "no-data":
            return Verdict(NO_DATA, "no-data", f"{gate}: {result.reason}", metrics)
        return Verdict(gate, result.outcome, result.reason, metrics)
    return Verdict("pass", "pass", "every gate passed", metrics)


def read_verdict(path: Path) -> Verdict:
    """The verdict a finished run wrote as its last line; anything else is infra-error."""
    try:
        record = read_record(path)
    except RecordError as exc:
        return Verdict.broken("infra-error", str(exc))
    if record.verdict is None:
        why = "; ".join(record.problems[-2:]) or "the run ended before writing its verdict line"
        return Verdict.broken("infra-error", f"{path}: no verdict line ({why})")
    v = record.verdict
    gate = v.get("gate")
    if gate not in ALL_GATES:
        return Verdict.broken("infra-error", f"{path}: verdict names an unknown gate {gate!r}")
    return Verdict(gate, v.get("outcome", "fail"), v.get("reason", ""), v.get("metrics") or {})
