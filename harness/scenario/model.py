"""The scenario schema (format_version 1): pydantic models, strict, with units in key names."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from harness.clip.spec import ClipRef, Segment
from harness.gates import LADDER
from harness.gates.eskf import EskfDivergenceSpec
from harness.gates.latency import LatencyBudgetSpec
from harness.gates.retrieval import RetrievalQualitySpec
from harness.gates.vpr import VprContractSpec

FORMAT_VERSION = 1
# Where a scenario may be known to stop: any gate of the ladder.
ExpectGate = Literal[LADDER]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OracleSpec(StrictModel):
    """Truth plus noise instead of retrieval: exercises the filter with known fix quality."""

    sigma_m: float = Field(25.0, gt=0)
    outlier_rate: float = Field(0.0, ge=0, le=1)
    seed: int = 0


class VprSpec(StrictModel):
    strategy: Literal["netvlad", "oracle"] = "netvlad"
    oracle: OracleSpec | None = None
    rate_hz: float = Field(1.0, gt=0)
    input_px: int = Field(240, gt=0, multiple_of=16)
    top_k: int = Field(5, gt=0)
    allow_fp32_fallback: bool = False


class GatesSpec(StrictModel):
    vpr_contract: VprContractSpec = VprContractSpec()
    retrieval_quality: RetrievalQualitySpec = RetrievalQualitySpec()
    eskf_divergence: EskfDivergenceSpec = EskfDivergenceSpec()
    latency_budget: LatencyBudgetSpec = LatencyBudgetSpec()


class Scenario(StrictModel):
    format_version: Literal[1]
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    description: str = ""
    tier: Literal[1, 2] = 1
    markers: list[str] = []
    config: Path
    overrides: dict[str, Any] = {}
    clip: ClipRef
    segment: Segment = Segment()
    pipeline: str = "reference"
    vpr: VprSpec = VprSpec()
    gates: GatesSpec = GatesSpec()
    expect: ExpectGate
    timeout_s: float = Field(900.0, gt=0)

    @field_validator("markers")
    @classmethod
    def _marker_names(cls, markers: list[str]) -> list[str]:
        for m in markers:
            if not m.isidentifier():
                raise ValueError(f"marker {m!r} is not a Python identifier (use snake_case)")
        return markers
