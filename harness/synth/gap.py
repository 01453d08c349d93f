"""The gap between map and flight (`clip: {synth: {gap: {...}}}`): what the camera adds.

The map is the stand-in's orthophoto; the flight sees the same land on another date
(`terrain.OtherDate`: season, changed fields and landmarks, shadows) through a real camera:
tilted off nadir (the manifest records the tilt, not the pointing error), blurred by motion
and focus, exposed and tone-mapped unlike the map, noisy, and JPEG-coded. Each effect is the
real operation (a perspective render, a convolution, a libjpeg round trip), seeded by the clip.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter
from scipy.ndimage import uniform_filter1d
from scipy.spatial.transform import Rotation

from harness.synth.camera import R_BODY_CAM
from harness.synth.spec import Gap
from harness.synth.terrain import OtherDate


def other_date(gap: Gap, seed: int) -> OtherDate:
    """The flight's date as the terrain draws it: the clip's seed, apart from the map's draws."""
    return OtherDate(
        seed=seed,
        season=gap.season,
        changed_fields=gap.changed_fields,
        changed_landmarks=gap.changed_landmarks,
        sun_azimuth_deg=gap.sun_azimuth_deg,
        shadow_m=gap.shadow_m,
    )


def _pitched(deg: float) -> np.ndarray:
    """The nadir mounting with the optical axis pitched `deg` toward body forward."""
    return R_BODY_CAM @ Rotation.from_euler("x", deg, degrees=True).as_matrix()


def mountings(gap: Gap | None) -> tuple[np.ndarray, np.ndarray]:
    """(the camera's real mounting, the one the manifest records): they differ by the
    unrecorded pointing error, aft (like a gimbal that sags)."""
    if gap is None:
        return R_BODY_CAM, R_BODY_CAM
    return _pitched(gap.tilt_deg - gap.pointing_error_deg), _pitched(gap.tilt_deg)


def camera(frame: np.ndarray, gap: Gap, rng: np.random.Generator) -> np.ndarray:
    """A rendered (ideal) frame as the flight's camera delivers it: defocused and smeared
    along track, exposed and tone-mapped, with sensor noise, then JPEG-coded."""
    out = frame
    if gap.defocus_px > 0:
        out = np.asarray(Image.fromarray(out).filter(ImageFilter.GaussianBlur(gap.defocus_px)))
    if gap.motion_blur_px > 1:  # the image's vertical is the flight direction
        out = uniform_filter1d(out, size=round(gap.motion_blur_px), axis=0, mode="nearest")
    x = tone_curve(gap.exposure_ev, gap.gamma)[out]
    if gap.noise > 0:
        x += rng.standard_normal(x.shape, dtype=np.float32) * np.float32(gap.noise * 255)
    out = np.clip(x + 0.5, 0, 255).astype(np.uint8)
    return out if gap.jpeg_quality is None else jpeg(out, gap.jpeg_quality)


def tone_curve(exposure_ev: float, gamma: float) -> np.ndarray:
    """Each 8-bit level through the camera's exposure (clipping at white) and tone curve."""
    x = np.clip(np.arange(256, dtype=np.float32) / 255 * np.float32(2.0**exposure_ev), 0, 1)
    return x ** np.float32(gamma) * np.float32(255)


def jpeg(rgb: np.ndarray, quality: int) -> np.ndarray:
    """A libjpeg encode and decode at `quality` (4:2:0, as cameras store frames)."""
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, format="JPEG", quality=quality, subsampling=2)
    return np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
