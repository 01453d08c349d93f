"""The synthetic Derkachi stand-in's spec: a preset, a seed and optional fault injections."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class SynthSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    preset: str = "derkachi-60s"
    seed: int = 0
