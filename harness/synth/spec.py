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


class Gap(_Model):
    """What lies between a real map and a real flight: the map is the stand-in's orthophoto as
    it is, the flight sees the same land on another date through a real camera. `gap: {}` is
    the default gap (tuned so that an untuned NetVLAD lands where published zero-shot NetVLAD
    does on real aerial imagery: docs/clip.md, "The gap"); 0 or null turns one effect off.
    """

    season: float = Field(0.5, ge=0, le=1)  # crops and trees this far toward the other season
    changed_fields: float = Field(0.25, ge=0, le=1)  # fraction of fields sown or ploughed anew
    changed_landmarks: float = Field(0.15, ge=0, le=1)  # copses, farmsteads, houses gone or new
    sun_azimuth_deg: float | None = Field(135.0, ge=0, lt=360)  # flight's sun; null: no shadows
    shadow_m: float = Field(6.0, ge=0, le=40)  # how far tall things cast their shadows
    exposure_ev: float = Field(0.1, ge=-3, le=3)  # the camera's exposure against the map's
    gamma: float = Field(1.1, ge=0.3, le=3)  # its tone curve: out = in ** gamma
    noise: float = Field(0.01, ge=0, le=0.2)  # sensor noise, sigma as a fraction of full scale
    motion_blur_px: float = Field(1.5, ge=0, le=30)  # along track, frame pixels
    defocus_px: float = Field(0.7, ge=0, le=10)  # Gaussian sigma, frame pixels
    tilt_deg: float = Field(8.0, ge=0, le=20)  # camera pitched forward; the manifest says so
    pointing_error_deg: float = Field(2.0, ge=0, le=10)  # looks this far aft; unrecorded
    jpeg_quality: int | None = Field(60, ge=1, le=100)  # frames JPEG-coded at this quality


class SynthSpec(_Model):
    """`clip: {synth: {...}}` in a scenario: everything the stand-in is a pure function of."""

    preset: str = "derkachi-60s"
    seed: int = Field(0, ge=0)
    overrides: SynthOverrides = SynthOverrides()
    faults: list[Fault] = []
    gap: Gap | None = None  # None: the flight sees the map itself through a perfect camera

    def doc(self) -> dict:
        """The spec as stored and hashed; a spec without a gap reads as it did before gaps."""
        return self.model_dump(exclude={"gap"} if self.gap is None else set())

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, value: str) -> str:
        if value not in PRESETS:
            near = difflib.get_close_matches(value, PRESETS, n=1)
            hint = f" (did you mean {near[0]!r}?)" if near else ""
            raise ValueError(f"unknown synth preset {value!r}{hint}; known: {', '.join(PRESETS)}")
        return value
