"""A survey flight (a folder of nadir images + a GPS track CSV) written as a clip bundle.

Any team with a mapping flight has these two things. Each image's time is its EXIF camera
clock (survey_track), moved onto the GPS clock by an offset estimated from the images
themselves (survey_motion: the zoom while climbing and descending against the track's
heights), unless given. Frames are downscaled to `frame_px` wide and stored as the bundle's
video; truth is the GPS position (no attitude); the telemetry the stack may read is the
heading along the track (no attitude is logged: the manifest says so; roll and pitch 0, a
stabilised nadir gimbal) and the GPS height above the first fix standing in for the baro.
There is no IMU. The truth's uncertainty (GNSS plus the offset's, at the flight's speed) is
recorded for the retrieval gate's hit radius.
"""

from __future__ import annotations

import logging
from dataclasses import astuple
from pathlib import Path

import numpy as np

from harness.clip.bundle import write_bundle
from harness.clip.geo import geodetic_to_ned
from harness.clip.manifest import nadir_camera, new_manifest
from harness.clip.survey_motion import (
    PairMotion,
    estimate_focal_px,
    estimate_offset,
    pair_motion,
)
from harness.clip.survey_track import (
    camera_clock,
    exif_time,
    list_images,
    read_track,
    shot_numbers,
)
from harness.clip.video import write_video
from harness.errors import ClipError

log = logging.getLogger(__name__)
COURSE_WINDOW_S = 1.5  # the course is the track's direction over +-this
MIN_COURSE_SPEED = 1.0  # m/s: slower, the course is noise; the last good heading is held
GNSS_SIGMA_M = 1.5  # per horizontal axis, a standalone GPS receiver (no RTK)
# Where the camera looks, per axis: a stabilised gimbal holds nadir to a few degrees, and the
# ground under the image centre is that far from the antenna at the flight height.
POINTING_SIGMA_DEG = 3.0
Z95_2D = 2.4477  # a 2-D Gaussian's 95 % radius in sigmas


def _frames(paths: list[Path], frame_px: int) -> tuple[list[np.ndarray], list[str]]:
    """RGB frames `frame_px` wide, and the names of JPEGs whose last bytes are missing
    (decoded as far as they go, as viewers show them)."""
    from PIL import Image, ImageFile

    frames, truncated = [], []
    for path in paths:
        with Image.open(path) as im:
            w, h = im.size
            size = (frame_px, round(h * frame_px / w / 2) * 2)
            im.draft("RGB", size)
            try:
                im.load()
            except OSError:
                truncated.append(path.name)
                before, ImageFile.LOAD_TRUNCATED_IMAGES = ImageFile.LOAD_TRUNCATED_IMAGES, True
                try:
                    with Image.open(path) as again:
                        again.draft("RGB", size)
                        im = again.convert("RGB").resize(size, Image.Resampling.LANCZOS)
                finally:
                    ImageFile.LOAD_TRUNCATED_IMAGES = before
            else:
                im = im.convert("RGB").resize(size, Image.Resampling.LANCZOS)
            frames.append(np.asarray(im))
    return frames, truncated


def track_course_deg(t_s: np.ndarray, p_ne_m: np.ndarray, at_s: np.ndarray) -> np.ndarray:
    """The track's direction [deg from north, clockwise] at each time, from the positions
    +-COURSE_WINDOW_S around it; held from the last moving time where slower than
    MIN_COURSE_SPEED, NaN before the first."""
    ahead = np.stack([np.interp(at_s + COURSE_WINDOW_S, t_s, p_ne_m[:, k]) for k in (0, 1)], 1)
    behind = np.stack([np.interp(at_s - COURSE_WINDOW_S, t_s, p_ne_m[:, k]) for k in (0, 1)], 1)
    step = ahead - behind
    course = np.degrees(np.arctan2(step[:, 1], step[:, 0]))
    moving = np.hypot(step[:, 0], step[:, 1]) / (2 * COURSE_WINDOW_S) >= MIN_COURSE_SPEED
    last = np.maximum.accumulate(np.where(moving, np.arange(len(at_s)), -1))
    return np.where(last >= 0, course[np.maximum(last, 0)], np.nan)


def yaw_quaternions(yaw_deg: np.ndarray) -> np.ndarray:
    """Body -> NED quaternions (w >= 0) of a level vehicle at each yaw; NaN yaw stays NaN."""
    half = np.radians(yaw_deg) / 2
    q = np.column_stack([np.cos(half), np.zeros_like(half), np.zeros_like(half), np.sin(half)])
    return q * np.where(q[:, :1] < 0, -1.0, 1.0)


def licence_beside(images: Path) -> str:
    """The licence file in or beside the image folder (LICENSE, License, LICENCE), quoted, so
    the bundle keeps it."""
    for folder in (images, images.parent):
        for name in ("LICENSE", "License", "LICENCE", "LICENSE.txt"):
            if (folder / name).is_file():
                return (folder / name).read_text(errors="replace").strip()
    return "not stated: no licence file in or beside the image folder"


def import_survey(
    images: Path,
    track_csv: Path,
    out: Path,
    *,
    frame_px: int = 640,
    hfov_deg: float | None = None,
    frame_offset_s: float | None = None,
    frame_offset_sigma_s: float | None = None,
    exif_utc_offset_s: float = 0.0,
    licence: str | None = None,
    columns: dict[str, str | None] | None = None,
    simulate_imu: bool = False,
) -> Path:
    """Write a bundle at `out`; origin = the first fix (taken as the take-off ground level).

    `hfov_deg` None: the focal length is measured from the images and the track;
    `frame_offset_s` None: the camera-to-GPS offset is estimated (climb/descent zoom);
    `licence` None: the licence file beside the images, quoted; `simulate_imu`: add an IMU
    simulated from the smoothed track (harness.clip.track_imu, as for a DJI SRT; labelled),
    truth then being that smoothed track with its attitude, so a filter can run."""
    images, track_csv, out = Path(images), Path(track_csv), Path(out)
    track = read_track(track_csv, columns)
    paths = list_images(images)
    stamps = np.array([exif_time(p, exif_utc_offset_s) or np.nan for p in paths])
    inside = (stamps >= track.utc_s[0] - 5.0) & (stamps <= track.utc_s[-1] + 5.0)
    dropped = {
        p.name: "no EXIF DateTimeOriginal"
        if not np.isfinite(s)
        else "camera clock not on the "
        f"track's clock (stamp {s:.0f} s, track {track.utc_s[0]:.0f}-{track.utc_s[-1]:.0f} s)"
        for p, s, ok in zip(paths, stamps, inside, strict=True)
        if not ok
    }
    keep = np.flatnonzero(inside)
    if len(keep) < 8:
        raise ClipError(
            f"{images}: {len(keep)} images have an EXIF time inside the track's span "
            f"({track_csv}); is it the track of this flight? dropped: {dropped}"
        )
    clock = camera_clock(shot_numbers(paths)[keep], stamps[keep])
    frames, truncated = _frames([paths[i] for i in keep], frame_px)
    origin = (float(track.lat_deg[0]), float(track.lon_deg[0]), float(track.alt_m[0]))
    p_ned = geodetic_to_ned(track.lat_deg, track.lon_deg, track.alt_m, origin)
    height = -p_ned[:, 2]
    greys = [f.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) for f in frames]
    motion = pair_motion(greys)
    if frame_offset_s is None:
        estimate = estimate_offset(motion, clock.t_s, track.utc_s, height)
        offset, sigma, offset_note = estimate.offset_s, estimate.sigma_s, estimate.as_manifest()
    else:
        offset, sigma = frame_offset_s, frame_offset_sigma_s or 0.0
        offset_note = {"offset_s": offset, "sigma_s": sigma, "method": "given"}
    t_img = clock.t_s + offset
    on = (t_img >= track.utc_s[0]) & (t_img <= track.utc_s[-1])
    for i in np.flatnonzero(~on):  # the track must hold each frame's position, not clamp it
        dropped[paths[keep[i]].name] = f"outside the track once offset by {offset:+.2f} s"
    frames, t_img = [f for f, ok in zip(frames, on, strict=True) if ok], t_img[on]
    if len(frames) < 2:
        raise ClipError(f"{images}: fewer than 2 frames lie inside the track ({track_csv})")
    motion = PairMotion(*(x[on[:-1] & on[1:]] for x in astuple(motion)))
    pos = np.stack([np.interp(t_img, track.utc_s, p_ned[:, k]) for k in (0, 1)], axis=1)
    h_img = np.interp(t_img, track.utc_s, height)
    width, rows = frames[0].shape[1], frames[0].shape[0]
    level_step = np.linalg.norm(np.diff(pos, axis=0), axis=1)
    try:
        focal, focal_pairs = estimate_focal_px(motion, level_step, (h_img[:-1] + h_img[1:]) / 2)
        measured_hfov = round(float(np.degrees(2 * np.arctan(width / 2 / focal))), 2)
    except ClipError:
        if hfov_deg is None:
            raise
        measured_hfov, focal_pairs = None, 0  # given: the measurement only checks it
    camera = nadir_camera(width, rows, hfov_deg if hfov_deg is not None else measured_hfov)
    t0 = float(track.utc_s[0])
    t = track.utc_s - t0
    v = np.gradient(p_ned, t, axis=0)
    truth = np.column_stack([t, p_ned, v, np.full((len(t), 4), np.nan)])
    imu, noise = None, None
    if simulate_imu:
        from harness.clip.track_imu import simulate

        imu, truth, noise = simulate(t, p_ned, GNSS_SIGMA_M)
    course = track_course_deg(t, p_ned[:, :2], t)
    telemetry = np.column_stack([t, yaw_quaternions(course), height])
    aloft = height > 10.0
    speed = float(np.median(np.hypot(v[aloft, 0], v[aloft, 1]))) if aloft.any() else 0.0
    flight_h = float(np.median(height[aloft])) if aloft.any() else 0.0
    pointing = flight_h * float(np.tan(np.radians(POINTING_SIGMA_DEG)))
    sigma_h = float(np.sqrt(GNSS_SIGMA_M**2 + (speed * sigma) ** 2 + pointing**2))
    out.mkdir(parents=True, exist_ok=True)
    period = clock.period_s or float(np.median(np.diff(clock.t_s)))
    write_video(out / "video.mp4", frames, fps=1.0 / period)
    manifest = new_manifest(
        f"survey {images.name}",
        origin,
        float(max(t[-1], t_img[-1] - t0)),
        {
            "reader": "harness.clip.survey",
            "images": images.name,
            "track": track_csv.name,
            "track_columns": track.columns,
            "images_used": len(frames),
            "images_dropped": dropped,
            "images_truncated": truncated,
            "camera_clock": {
                "method": clock.method,
                "period_s": clock.period_s,
                "agreement": clock.agreement,
            },
            "frame_offset": offset_note,
            "frames": f"{width} x {rows} px, downscaled from the originals (Lanczos)",
            "camera_scale": {
                "measured_hfov_deg": measured_hfov,
                "pairs": focal_pairs,
                "used_hfov_deg": round(camera["fov_deg"], 2),
                "method": "image shift of level consecutive pairs against the track's ground "
                "distance over the height above the first fix",
            },
            "origin": "the first fix, taken as the take-off ground level",
            "telemetry_attitude": "NO ATTITUDE LOGGED: heading = the GPS track's course "
            f"(over +-{COURSE_WINDOW_S} s, held below {MIN_COURSE_SPEED} m/s); roll and pitch "
            "0 (a stabilised nadir gimbal assumed)",
            "telemetry_baro": "GPS altitude minus the first fix's (no barometer logged)",
            "notes": (
                "IMU SIMULATED from the smoothed GPS track (harness.clip.track_imu, stand-in "
                "noise model); truth = that smoothed track with its attitude: real images and "
                "a real trajectory, not a real IMU"
                if simulate_imu
                else "truth is GNSS position only; no IMU in a survey"
            ),
        },
        camera=camera,
        licence=licence if licence is not None else licence_beside(images),
    )
    manifest["streams"]["frames"] = {"video": "video.mp4"}
    manifest["ground_truth"] = "smoothed-track" if simulate_imu else "gnss-position-only"
    if simulate_imu:
        manifest["imu_noise"] = noise
        manifest["imu_source"] = "simulated-from-track"
    manifest["truth_uncertainty"] = {
        "horizontal_95_m": round(Z95_2D * sigma_h, 2),
        "basis": f"per axis: GNSS {GNSS_SIGMA_M} m, the frame-time offset's {sigma:.2f} s at "
        f"the median speed {speed:.1f} m/s, and the camera's pointing ({POINTING_SIGMA_DEG:g} "
        f"deg from nadir at the median height {flight_h:.0f} m: {pointing:.1f} m), combined; "
        "a 2-D 95 % radius",
    }
    write_bundle(out, manifest, imu, truth, t_img - t0, telemetry)
    log.info("survey %s: %d frames, offset %.2f +- %.2f s", images, len(keep), offset, sigma)
    return out
