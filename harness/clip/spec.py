"""How a scenario names its clip: a bundle path or an inline synth spec, and a time segment."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.synth.spec import SynthSpec


class ClipRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    bundle: Path | None = None
    synth: SynthSpec | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ClipRef:
        if (self.bundle is None) == (self.synth is None):
            raise ValueError("give exactly one of `bundle: PATH` or `synth: {preset: ...}`")
        return self


class Segment(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    start_s: float = Field(0.0, ge=0)
    duration_s: float | None = Field(None, gt=0)
