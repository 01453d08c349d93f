"""How a scenario names its clip (a bundle path or an inline synth spec), segment and corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

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


class CorpusSpec(BaseModel):
    """Which tile corpus a run retrieves from: one the bundle carries, a GeoTIFF (any CRS,
    warped to Web-Mercator XYZ tiles) or a folder of {z}/{x}/{y}.png|jpg tiles."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["bundle", "geotiff", "xyz"]
    name: Literal["local-grid", "xyz"] = "local-grid"  # kind bundle: which of its corpora
    path: Path | None = None  # kind geotiff / xyz, relative to the project root
    zoom: int | None = Field(None, ge=0, le=24)  # default: the raster's native / deepest zoom
    tile_px: int = Field(256, ge=32, le=2048)

    @model_validator(mode="after")
    def _path_for_files(self) -> CorpusSpec:
        if self.kind in ("geotiff", "xyz") and self.path is None:
            raise ValueError(f"kind {self.kind} reads a file: give `path:`")
        if self.kind == "bundle" and self.path is not None:
            raise ValueError(
                "kind bundle uses the clip's own corpus: drop `path:`, or use geotiff/xyz"
            )
        return self
