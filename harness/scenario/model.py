"""The scenario schema (format_version 1): pydantic models, strict, with units in key names."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from harness.clip.spec import ClipRef, CorpusSpec, Segment
from harness.gates import BROKEN, LADDER, NO_DATA
from harness.gates.eskf import EskfDivergenceSpec
from harness.gates.latency import LatencyBudgetSpec
from harness.gates.retrieval import RetrievalQualitySpec
from harness.gates.vpr import VprContractSpec

FORMAT_VERSION = 1
# Where a scenario may be known to stop: any gate of the ladder, or one of the verdicts that
# check the framework's own honesty (a truncated clip must be no-data, an OOM infra-error);
# those three need an `expect_reason`.
OFF_LADDER = (NO_DATA, *BROKEN)
ExpectGate = Literal[(*LADDER, *OFF_LADDER)]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class OracleSpec(StrictModel):
    """Truth plus noise instead of retrieval: exercises the filter with known fix quality,
    and injects the faults the divergence gate must catch."""

    sigma_m: float = Field(25.0, gt=0)
    outlier_rate: float = Field(0.0, ge=0, le=1)
    outlier_offset_m: float = Field(400.0, ge=0)  # an outlier is a wrong tile this far away
    seed: int = Field(0, ge=0)
    offset_ne_m: tuple[float, float] = (0.0, 0.0)  # a held bias, e.g. a repeated wrong tile
    offset_from_s: float | None = Field(None, ge=0)
    offset_fixes: int = Field(0, ge=0)
    dropout_from_s: float | None = Field(None, ge=0)  # no fixes at all in this window
    dropout_s: float = Field(0.0, ge=0)
    nan_at_s: float | None = Field(None, ge=0)  # the first fix at or after this time is NaN
    scale: float = Field(1.0, gt=0)  # e.g. 1.5597: Web-Mercator metres read as metres at 50.11 N
    latency_s: float = Field(0.0, ge=0)


class EskfSpec(StrictModel):
    """Filter settings a scenario may change (initial uncertainty, gate) or fault (yaw).

    The filter starts at the first finite fix: horizontal position from the fix (sigma = the
    fix's sigma), height from the baro and attitude from the AHRS (the clip's telemetry
    stream), velocity zero; the sigmas below are what it is told about those starting values.
    """

    # Velocity starts at zero: 20 m/s covers the stand-in's 12-18 m/s cruise within one sigma.
    init_sigma_v_m_s: float = Field(20.0, gt=0)
    # Baro height: a bias of a few metres (the stand-in's manifest states 3 m + 1 m drift).
    init_sigma_height_m: float = Field(5.0, gt=0)
    init_sigma_tilt_deg: float = Field(2.0, gt=0)  # AHRS roll and pitch
    init_sigma_yaw_deg: float = Field(5.0, gt=0)  # AHRS heading (magnetometer-aided)
    init_yaw_error_deg: float = Field(0.0, ge=-180, le=180)  # fault: start this far off heading
    # Baro height updates: the rate the filter fuses the telemetry's baro height at (null: not
    # at all) and the sigma it is told (the stand-in's bias, drift and noise combined).
    baro_rate_hz: float | None = Field(1.0, gt=0)
    baro_sigma_m: float = Field(3.5, gt=0)
    gate_nis: float = Field(13.82, gt=0)  # chi2(2) at 0.999
    # Reset the horizontal position to a fix after this long without an accepted one, as PX4
    # and ArduPilot do after 7-10 s; off by default (the reference filter only gates).
    reset_after_s: float | None = Field(None, gt=0)


FallbackRuntime = Literal["pytorch-fp32", "onnxruntime", "openvino-fp32", "openvino-int8"]


class VprSpec(StrictModel):
    strategy: Literal["netvlad", "oracle"] = "netvlad"
    oracle: OracleSpec | None = None
    rate_hz: float = Field(1.0, gt=0)
    input_px: int = Field(240, gt=0, multiple_of=16)
    top_k: int = Field(5, gt=0)
    # The runtime a host without usable fp16 (a CPU replay host) runs instead of the onboard
    # pytorch-fp16, recorded in the run's `runtime` provisioning check; None: such a host fails
    # provisioning and says so. A target with fp16 (the Jetson) runs fp16 whatever this says.
    fallback_runtime: FallbackRuntime | None = None
    # Query preprocessing: "north-up" rotates and scales each frame to a tile's footprint using
    # attitude and height, read from `align_source`: "telemetry" = the clip's flight-controller
    # stream (AHRS attitude, baro height), "filter" = the ESKF's own estimate at the frame time
    # (retrieval and filter then run interleaved in time).
    align: Literal["none", "north-up"] = "none"
    align_source: Literal["telemetry", "filter"] = "telemetry"

    @model_validator(mode="before")
    @classmethod
    def _fp32_fallback(cls, data: Any) -> Any:
        """`allow_fp32_fallback: true`, the older spelling of `fallback_runtime: pytorch-fp32`."""
        if isinstance(data, dict) and "allow_fp32_fallback" in data:
            data = dict(data)
            allowed = data.pop("allow_fp32_fallback")
            if not isinstance(allowed, bool):
                raise ValueError("allow_fp32_fallback is true or false")
            if allowed and data.get("fallback_runtime", "pytorch-fp32") != "pytorch-fp32":
                raise ValueError(
                    "allow_fp32_fallback: true and fallback_runtime name two fallbacks; "
                    "keep fallback_runtime only"
                )
            if allowed:
                data["fallback_runtime"] = "pytorch-fp32"
        return data


def _as_arg(value: Any) -> Any:
    """A number in a command line is its text: `--agl-m, 300` as `--agl-m, "300"`."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return value


Arg = Annotated[str, BeforeValidator(_as_arg)]


class ProcessSpec(StrictModel):
    """`pipeline: process`: the stack under test is a program (any language) or a container
    that reads the stack input folder and writes JSONL on stdout (docs/adapters.md)."""

    command: list[Arg] = Field(min_length=1)  # argv; "{input}" becomes the input folder
    image: str | None = None  # run the command in this local image (docker run, no network)
    name: str = "stack"  # how provisioning checks and latency samples name the stack
    corpus: Literal["local-grid", "xyz"] = "local-grid"
    speed: float = Field(1.0, gt=0)  # frames are released at this multiple of real time
    # The stack's own deadline; unset: 90 % of the scenario's timeout_s, so the adapter
    # reports a hang (with the stack's stderr) before the runner kills the whole run.
    timeout_s: float | None = Field(None, gt=0)


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
    # The tile corpus retrieval searches (default: the bundle's local-grid corpus).
    corpus: CorpusSpec | None = None
    process: ProcessSpec | None = None  # what `pipeline: process` runs
    pipeline: str = Field("reference", validate_default=True)
    vpr: VprSpec = VprSpec()
    eskf: EskfSpec = EskfSpec()
    gates: GatesSpec = GatesSpec()
    expect: ExpectGate
    # A regular expression the reason must match when the run stops at `expect`, e.g. "^D1 "
    # for the divergence trigger a fault scenario is about.
    expect_reason: str | None = None
    timeout_s: float = Field(900.0, gt=0)

    @field_validator("expect_reason")
    @classmethod
    def _a_regex(cls, pattern: str | None) -> str | None:
        if pattern is not None:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"not a regular expression ({exc}); escape literal ( [ . * + ? with a backslash"
                ) from None
        return pattern

    @field_validator("pipeline")
    @classmethod
    def _process_block(cls, pipeline: str, info: ValidationInfo) -> str:
        if "process" not in info.data:  # the block itself is invalid: reported on its own
            return pipeline
        has_block = info.data["process"] is not None
        if pipeline == "process" and not has_block:
            raise ValueError(
                "`pipeline: process` runs the command of a `process:` block; add one, e.g. "
                "process: {command: [path/to/stack, --flag]} (docs/adapters.md)"
            )
        if has_block and pipeline != "process":
            raise ValueError(
                "a `process:` block is read only with `pipeline: process`; set that, or "
                "remove the block"
            )
        return pipeline

    @model_validator(mode="after")
    def _reason_for_off_ladder(self) -> Scenario:
        if self.expect in OFF_LADDER and not self.expect_reason:
            raise ValueError(
                f"expect: {self.expect} needs an expect_reason (a regular expression the "
                "verdict's reason must match), so any other broken run still fails"
            )
        return self

    @field_validator("markers")
    @classmethod
    def _marker_names(cls, markers: list[str]) -> list[str]:
        for m in markers:
            if not m.isidentifier():
                raise ValueError(f"marker {m!r} is not a Python identifier (use snake_case)")
        return markers
