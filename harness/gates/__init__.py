"""The gate taxonomy and the classification of a run record into one verdict.

Gates are ordered; a run stops at the first gate whose check does not pass. Beside the
ladder, `config-error` and `infra-error` say the run itself is broken (not a product
verdict) and `no-data` says a gate had too little evidence to judge (never a silent PASS).
A gate that does not apply (n/a) is listed in the verdict (`metrics["n/a"]`, and a PASS's
reason: "pass; n/a: retrieval-quality, latency-budget"), so a PASS says what it did not judge.
Classification never raises: a record a gate cannot read is a located infra-error.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from harness.errors import RecordError
from harness.gates import eskf, latency, provisioning, retrieval, vpr
from harness.gates.fields import Malformed, text
from harness.gates.result import GateResult
from harness.gates.warnings import record_warnings
from harness.record import Record, append_verdict, read_record

log = logging.getLogger(__name__)

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
# The verdict's metrics key for the gates that did not apply (gate -> why): a PASS names them.
NOT_JUDGED = "n/a"
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

__all__ = [
    "ALL_GATES",
    "CHECKS",
    "LADDER",
    "NOT_JUDGED",
    "GateResult",
    "Verdict",
    "classify",
    "conclude",
]


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
        category = err.get("category")
        category = category if category in BROKEN else "infra-error"
        return Verdict.broken(category, text(err, "message"))
    metrics: dict[str, Any] = {}
    unjudged: dict[str, str] = {}  # gate -> why it did not apply
    for gate, check in CHECKS:
        try:
            result = check(record)
        except Malformed as exc:
            return Verdict.broken("infra-error", f"{gate}: malformed run record: {exc}")
        except Exception as exc:  # a gate must never take the session down
            log.exception("gate %s could not judge %s", gate, record.path)
            why = f"{type(exc).__name__}: {str(exc)[:300]}"
            return Verdict.broken("infra-error", f"{gate}: could not judge {record.path}: {why}")
        if result.metrics:
            metrics[gate] = result.metrics
        if result.outcome == "n/a":
            unjudged[gate] = result.reason
            metrics[NOT_JUDGED] = unjudged
            continue
        if result.outcome == "pass":
            continue
        if result.outcome == "no-data":
            why = f"{gate}: {result.reason}"
            for stop in record.select("run", "stop"):  # the stack said why it had no more
                why += f" (the stack stopped: {text(stop, 'reason')})"
            return Verdict(NO_DATA, "no-data", why, metrics)
        return Verdict(gate, result.outcome, result.reason, metrics)
    return Verdict("pass", "pass", pass_reason(unjudged), metrics)


def pass_reason(unjudged: dict[str, str]) -> str:
    """A PASS says which gates did not judge the run: "pass; n/a: retrieval-quality, ..."."""
    return f"pass; n/a: {', '.join(unjudged)}" if unjudged else "every gate passed"


def conclude(path: Path) -> Verdict:
    """Classify a finished run's record on the host and append the verdict as its last line.

    A record without its end line (the run died, or was cut short) is infra-error: only a
    run that finished is judged, and the verdict never comes from a line the run wrote.
    """
    try:
        record = read_record(path)
    except RecordError as exc:
        return Verdict.broken("infra-error", str(exc))
    if not record.ended:
        why = "; ".join(record.problems[-2:]) or "the run ended before writing its end line"
        verdict = Verdict.broken("infra-error", f"{path}: the run did not finish ({why})")
    else:
        verdict = classify(record)
    write_verdict(path, verdict)
    return verdict


def write_verdict(path: Path, verdict: Verdict) -> None:
    """The verdict as the record's last line; a record that cannot be written keeps none."""
    if not path.exists():
        return
    try:
        append_verdict(path, verdict.as_dict())
    except OSError as exc:
        log.warning("cannot write the verdict into %s: %s", path, exc)
