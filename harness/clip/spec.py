"""How a scenario names its clip (bundle, synth spec or real recording), segment and corpus."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from harness.synth.spec import SynthSpec


class RecordingSpec(BaseModel):
    """A real recording imported on first use (cached by its digest and these options)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["dji-srt", "px4-ulog", "ros2-bag", "survey"]
    path: Path  # survey: the folder of images
    track: Path | None = None  # survey: the GPS track CSV
    video: Path | None = None  # dji-srt, px4-ulog
    video_start_s: float = 0.0  # px4-ulog: clip time of the video's first frame
    truth_source: Literal["gnss", "estimate"] = "gnss"  # px4-ulog
    min_imu_hz: float | None = Field(None, ge=0)  # px4-ulog; None: the reference ESKF's 100
    simulate_imu: bool = False  # dji-srt alone, survey: an IMU simulated from the track (labelled)
    assume_alt_m: float | None = None  # dji-srt without any height field
    time: Literal["header", "receive"] = "header"  # ros2-bag clock
    hfov_deg: float | None = Field(None, gt=0, lt=180)  # None: 60 deg; survey: measured
    frame_px: int = Field(640, ge=256, le=4096)  # survey: frames downscaled to this width
    frame_offset_s: float | None = None  # survey: camera clock to GPS; None: estimated
    frame_offset_sigma_s: float | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _survey_has_track(self) -> RecordingSpec:
        if (self.kind == "survey") != (self.track is not None):
            raise ValueError("`track:` (the GPS track CSV) goes with kind survey, and only there")
        return self


class ClipRef(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    bundle: Path | None = None
    synth: SynthSpec | None = None
    recording: RecordingSpec | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> ClipRef:
        if sum(x is not None for x in (self.bundle, self.synth, self.recording)) != 1:
            raise ValueError(
                "give exactly one of `bundle: PATH`, `synth: {preset: ...}` or "
                "`recording: {kind: ..., path: ...}`"
            )
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
