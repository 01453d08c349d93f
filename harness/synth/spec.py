"""The synthetic Derkachi stand-in's spec: preset, seed, overrides and fault injections."""

from __future__ import annotations

import difflib
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

PRESETS = ("derkachi-10s", "derkachi-60s", "derkachi-300s")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ImuBiasStep(_Model):
    """From `at_s` on, the IMU biases jump by the given vectors (FRD)."""

    kind: Literal["imu_bias_step"]
    at_s: float = Field(ge=0)
    gyro_rad_s: tuple[float, float, float] = (0.0, 0.0, 0.0)
    accel_m_s2: tuple[float, float, float] = (0.0, 0.0, 0.0)


class DroppedFrames(_Model):
    """Frames with timestamps in [start_s, start_s + duration_s) never reach the video."""

    kind: Literal["dropped_frames"]
    start_s: float = Field(ge=0)
    duration_s: float = Field(gt=0)


class CameraImuOffset(_Model):
    """Frame timestamps read `offset_s` later than the instant the frame shows."""

    kind: Literal["camera_imu_offset"]
    offset_s: float


class FrameCorruption(_Model):
    """Frames in the window carry garbage blocks (a broken link or decoder)."""

    kind: Literal["frame_corruption"]
    start_s: float = Field(ge=0)
    duration_s: float = Field(gt=0)
    fraction: float = Field(0.5, gt=0, le=1)


class TruncatedVideo(_Model):
    """The video stops at `at_s`; IMU and truth run on to the clip's end."""

    kind: Literal["truncated_video"]
    at_s: float = Field(gt=0)


Fault = Annotated[
    ImuBiasStep | DroppedFrames | CameraImuOffset | FrameCorruption | TruncatedVideo,
    Field(discriminator="kind"),
]


class SynthOverrides(_Model):
    """Preset values to replace; None keeps the preset's."""

    duration_s: float | None = Field(None, gt=0, le=1800)
    frame_px: int | None = Field(None, ge=32, le=1024)
    fps: float | None = Field(None, gt=0, le=60)
    speed_m_s: float | None = Field(None, gt=0, le=60)
    altitude_agl_m: float | None = Field(None, ge=50, le=2000)
    imu_noise_scale: float | None = Field(None, ge=0)
    imu_jitter_s: float | None = Field(None, ge=0, le=0.002)
    corpus: bool | None = None


class SynthSpec(_Model):
    """`clip: {synth: {...}}` in a scenario: everything the stand-in is a pure function of."""

    preset: str = "derkachi-60s"
    seed: int = Field(0, ge=0)
    overrides: SynthOverrides = SynthOverrides()
    faults: list[Fault] = []

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str) -> str:
        if value not in PRESETS:
            near = difflib.get_close_matches(value, PRESETS, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ValueError(f"unknown synth preset {value!r}{hint}; known: {', '.join(PRESETS)}")
        return value
