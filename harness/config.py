"""The operator config as the onboard stack reads it: the c2_vpr and c10_provisioning blocks.

Other top-level blocks belong to other onboard components and pass through untouched.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# The full NetVLAD-VGG16 of the upstream config: VGG width 64, 64 clusters, 4096-d output.
FULL_WIDTH, FULL_CLUSTERS, FULL_DESCRIPTOR_DIM = 64, 64, 4096

Runtime = Literal[
    "pytorch-fp16", "pytorch-fp32", "onnxruntime", "openvino-fp32", "openvino-int8", "tensorrt"
]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Backbone(StrictModel):
    """One provisioned network. Architecture fields default to the full NetVLAD-VGG16."""

    name: str
    weights_path: Path
    sha256: str | None = Field(None, pattern=r"^[0-9a-f]{64}$")
    runtime: Runtime = "pytorch-fp16"
    input_size: tuple[int, int] = (480, 480)
    width: int = Field(FULL_WIDTH, gt=0)
    clusters: int = Field(FULL_CLUSTERS, gt=0)
    descriptor_dim: int = Field(FULL_DESCRIPTOR_DIM, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _legacy_onnx_path(cls, data: Any) -> Any:
        # The onboard stack names the path field `onnx_path` even for a .pt state_dict.
        if isinstance(data, dict) and "onnx_path" in data:
            data = dict(data)
            legacy = data.pop("onnx_path")
            if "weights_path" in data:
                raise ValueError("give `weights_path` only; `onnx_path` is its deprecated alias")
            data["weights_path"] = legacy
            warnings.warn(
                f"backbone {data.get('name', '?')!r}: `onnx_path` is a deprecated alias; "
                "rename the key to `weights_path`",
                FutureWarning,
                stacklevel=2,
            )
        return data


class Provisioning(StrictModel):
    backbones: list[Backbone] = []
    descriptor_cache: Path = Path(".cache/descriptors")


class C2Vpr(StrictModel):
    strategy: Literal["netvlad"] = "netvlad"
    backbone: str | None = None
    top_k: int = Field(5, gt=0)


class OperatorConfig(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    c2_vpr: C2Vpr = C2Vpr()
    c10_provisioning: Provisioning

    def backbone(self) -> Backbone | None:
        """The backbone c2_vpr uses: the named one, else the first."""
        chosen = self.c2_vpr.backbone
        for b in self.c10_provisioning.backbones:
            if chosen is None or b.name == chosen:
                return b
        return None

    @model_validator(mode="after")
    def _backbone_exists(self) -> OperatorConfig:
        names = [b.name for b in self.c10_provisioning.backbones]
        if self.c2_vpr.backbone is not None and names and self.c2_vpr.backbone not in names:
            raise ValueError(
                f"c2_vpr.backbone {self.c2_vpr.backbone!r} is not among "
                f"c10_provisioning.backbones {names}"
            )
        return self


def unpinned_checkpoints(config: dict[str, Any] | None) -> list[str]:
    """Weights paths of the backbones whose sha256 a resolved operator config leaves unset.

    Works on the config as the run record stores it (a plain dict), so the gates and the
    ledger can tell an unpinned checkpoint from any record.
    """
    provisioning = config.get("c10_provisioning") if isinstance(config, dict) else None
    backbones = provisioning.get("backbones") if isinstance(provisioning, dict) else None
    return [
        str(b.get("weights_path"))
        for b in (backbones if isinstance(backbones, list) else [])
        if isinstance(b, dict) and not b.get("sha256")
    ]
