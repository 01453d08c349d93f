"""What one gate's check returns; kept apart so gate modules need not import the package."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


@dataclass(frozen=True)
class GateResult:
    outcome: Literal["pass", "fail", "skip", "no-data", "n/a"]
    reason: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)


class GateSpec(BaseModel):
    """Base of every gate's thresholds block in a scenario: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def spec_of(record_scenario: dict[str, Any], key: str, model: type[GateSpec]) -> GateSpec:
    """The gate's thresholds as resolved in the record's condition line (defaults if absent)."""
    return model.model_validate((record_scenario.get("gates") or {}).get(key) or {})
