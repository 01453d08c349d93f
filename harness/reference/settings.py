"""The reference stack's section of a scenario: its operator config (with overrides), the VPR
strategy (NetVLAD or the oracle) and the filter. Registered with the stack's entry point
(`ReferencePipeline.scenario_model`), so the framework's schema carries none of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ConfigDict, Field, model_validator

from harness.reference.operator_config import OperatorConfig, resolve
from harness.scenario.model import Scenario, StackFile, StrictModel
from harness.scenario.problems import Problem, Source


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
    # Fault: the filter is told the IMU's noise densities and initial bias uncertainty times
    # this (0.01: a filter that believes its IMU a hundred times better than it is, so its
    # covariance barely grows while it coasts).
    imu_noise_scale: float = Field(1.0, gt=0)


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


@dataclass(frozen=True)
class ReferenceSettings:
    """The resolved operator config a reference run reads, and where it came from."""

    config: OperatorConfig
    config_path: Path
    root: Path

    def dump(self) -> dict[str, Any]:
        return self.config.model_dump(mode="json")

    def files(self) -> list[StackFile]:
        found = [StackFile("config", self.config_path, ("config",))]
        for backbone in self.config.c10_provisioning.backbones:
            path = backbone.weights_path
            found.append(StackFile("checkpoint", path if path.is_absolute() else self.root / path))
        return found


class ReferenceScenario(Scenario):
    """A scenario of the reference stack: the shared keys plus `config`, `overrides`, `vpr`
    and `eskf`."""

    model_config = ConfigDict(extra="forbid", frozen=True, title="reference scenario")

    config: Path  # the operator config, as the onboard stack reads it
    overrides: dict[str, Any] = Field(default_factory=dict)  # dotted keys into it, validated
    vpr: VprSpec = VprSpec()
    eskf: EskfSpec = EskfSpec()

    @model_validator(mode="before")
    @classmethod
    def _oracle_makes_no_descriptors(cls, data: Any) -> Any:
        """The oracle strategy embeds nothing: the vpr-contract gate does not apply unless the
        file says otherwise."""
        vpr = data.get("vpr") if isinstance(data, dict) else None
        if not isinstance(vpr, dict) or vpr.get("strategy") != "oracle":
            return data
        gates = data.get("gates")
        gates = dict(gates) if isinstance(gates, dict) else {} if gates is None else gates
        if not isinstance(gates, dict):
            return data  # reported by the schema
        block = gates.get("vpr_contract")
        if block is None or (isinstance(block, dict) and "applies" not in block):
            gates["vpr_contract"] = {**(block or {}), "applies": False}
            data = {**data, "gates": gates}
        return data

    @classmethod
    def resolve_settings(
        cls, tree: Any, source: Source, root: Path
    ) -> tuple[ReferenceSettings | None, list[Problem]]:
        config, config_path, problems = resolve(tree, source, root)
        if config is None or config_path is None:
            return None, problems
        return ReferenceSettings(config, config_path, root), problems
