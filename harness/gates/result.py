"""What one gate's check returns; kept apart so gate modules need not import the package."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

if TYPE_CHECKING:
    from harness.record import Record


@dataclass(frozen=True)
class GateResult:
    outcome: Literal["pass", "fail", "skip", "no-data", "n/a"]
    reason: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)


class GateSpec(BaseModel):
    """Base of every gate's thresholds block in a scenario: unknown keys are errors, and so
    is a NaN or infinite threshold (a comparison with it would decide nothing)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def spec_of(record: Record, key: str, model: type[GateSpec]) -> Any:
    """The gate's thresholds as resolved in the record's condition line (defaults if absent).

    Thresholds that do not validate there are a located `Malformed` record, not a crash.
    """
    from harness.gates.fields import Malformed

    gates = record.scenario.get("gates")
    block = gates.get(key) if isinstance(gates, dict) else None
    try:
        return model.model_validate(block or {})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(x) for x in err["loc"])
        raise Malformed(
            f"{record.path}:1: condition line: gates.{key}.{field}: {err['msg']}"
        ) from None
