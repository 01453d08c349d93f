"""A DJI .SRT (and, optionally, the video it belongs to) written as a clip bundle.

Time alignment: the SRT's cue times are the video's timeline, so the bundle's clock is the
video's (frames stamped by their presentation times, truth by cue starts). Without a video the
clock starts at the first usable cue and the shift is recorded. Truth is position only (NaN
attitude); DJI SRT holds no IMU, so the bundle's IMU stream is absent.

Telemetry: baro height = the file's height field when its datum is the take-off point
(rel_alt, BAROMETER, Hb; H from the home point, where it took off; the origin's altitude is
then the take-off level, 0 in that datum), else that field minus its first value (stated in
the manifest). Attitude: the drone's own F.PRY when every cue carries it; with `simulate_imu`
an AHRS simulated on the same smoothed track as the IMU (labelled); otherwise NaN.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np

from harness.clip.bundle import write_bundle
from harness.clip.geo import geodetic_to_ned
from harness.clip.manifest import nadir_camera, new_manifest
from harness.clip.srt import SrtTrack, parse_srt
from harness.clip.video import probe
from harness.errors import ClipError

log = logging.getLogger(__name__)


def _usable(track: SrtTrack, srt: Path, assume_alt_m: float | None) -> np.ndarray:
    info = track.info
    if not len(track.t_s):
        why = (
            "no cue carries a position (this generation writes none, e.g. the 2018 Mavic Air)"
            if info.get("no_position")
            else "no cue before a GPS fix was usable"
            if info.get("no_fix_0_0")
            else "no cues at all (empty or truncated file)"
        )
        raise ClipError(
            f"{srt}: {why}: {info.get('cues', 0)} cues, 0 samples with a position; "
            "a clip needs a position track: give the SRT of a flight recorded with GPS"
        )
    if info["altitude_field"] is None:
        if assume_alt_m is None:
            raise ClipError(
                f"{srt}: no cue carries a height (rel_alt, abs_alt, altitude, H, BAROMETER, Hb); "
                "pass assume_alt_m (--assume-alt-m M) to take a constant height"
            )
        info["altitude_field"] = f"assumed constant {assume_alt_m} m"
        return np.full(len(track.t_s), float(assume_alt_m))
    return track.alt_m


def import_dji(
    video: Path | None,
    srt: Path,
    out: Path,
    hfov_deg: float = 82.1,
    skip_bad: bool = False,
    assume_alt_m: float | None = None,
    simulate_imu: bool = False,
) -> Path:
    """Write a bundle at `out` from a DJI SRT (and its video, if given); origin = first fix.

    `simulate_imu` (SRT alone): add an IMU simulated from the smoothed track (see track_imu);
    truth then is that smoothed track with its attitude, at 10 Hz."""
    srt, out = Path(srt), Path(out)
    track = parse_srt(srt, skip_bad=skip_bad)
    alt = _usable(track, srt, assume_alt_m)
    camera, frames_t = None, None
    t = track.t_s.copy()
    if video is not None:
        width, height, frames_t = probe(Path(video))
        camera = nadir_camera(width, height, hfov_deg)
        end = float(frames_t[-1]) + float(np.median(np.diff(frames_t)))
        shift = 0.0
        outside = t > end
        if outside.any():
            log.warning(
                "%s: %d cues start after the video ends (%.3f s): dropped",
                srt,
                int(outside.sum()),
                end,
            )
            keep = ~outside
            t, alt = t[keep], alt[keep]
            lat, lon = track.lat_deg[keep], track.lon_deg[keep]
            pry = None if track.pry_deg is None else track.pry_deg[keep]
        else:
            lat, lon, pry = track.lat_deg, track.lon_deg, track.pry_deg
        duration = max(end, float(t[-1]))
    else:
        shift = float(t[0])
        t = t - shift
        lat, lon, pry = track.lat_deg, track.lon_deg, track.pry_deg
        last = track.dur_s[-1] if np.isfinite(track.dur_s[-1]) else np.nanmedian(np.diff(t))
        duration = float(t[-1] + (last if np.isfinite(last) else 1.0))
    if not len(t):
        raise ClipError(f"{srt}: every cue lies after the end of {video}; is it the right video?")
    datum = str(track.info.get("altitude_datum") or "")
    takeoff = datum.startswith(("take-off point", "home point"))
    origin = (float(lat[0]), float(lon[0]), 0.0 if takeoff else float(alt[0]))
    p = geodetic_to_ned(lat, lon, alt, origin)
    v = np.gradient(p, t, axis=0) if len(t) > 1 else np.zeros_like(p)
    truth = np.column_stack([t, p, v, np.full((len(t), 4), np.nan)])
    baro, baro_note = _baro(track.info, alt, takeoff)
    telemetry = np.column_stack([t, _pry_to_q(pry, len(t)), baro])
    att_note = (
        "drone attitude from the SRT's F.PRY (DJI's own, yaw from its compass)"
        if pry is not None
        else "no drone attitude in this SRT: NaN"
    )
    imu, imu_note = None, "no IMU in a DJI SRT"
    if simulate_imu:
        imu, truth, noise = _simulated(srt, video, t, p, lat)
        telemetry, ahrs, att_note = _simulated_ahrs(t, p, lat, baro, pry, v)
        imu_note = (
            "IMU SIMULATED from the smoothed SRT track (harness.clip.track_imu, stand-in noise "
            "model); truth = that smoothed track with its attitude: a real trajectory, not a "
            "real IMU"
        )
    out.mkdir(parents=True, exist_ok=True)
    manifest = new_manifest(
        f"DJI {srt.name}",
        origin,
        duration,
        {
            "reader": "harness.clip.srt",
            "srt": srt.name,
            "video": None if video is None else Path(video).name,
            **track.info,
            "time_alignment": (
                "bundle clock = video timeline: frames at their presentation times, truth at "
                "cue starts"
                if video is not None
                else f"bundle clock = cue time minus {shift:.3f} s (the first usable cue)"
            ),
            "notes": imu_note if simulate_imu else f"truth is GNSS position only; {imu_note}",
            "telemetry_baro": baro_note,
            "telemetry_attitude": att_note,
        },
        camera=camera,
    )
    if simulate_imu:
        manifest["imu_noise"] = noise
        manifest["imu_source"] = "simulated-from-track"
        manifest["telemetry"] = {"attitude_source": "simulated-from-track", **ahrs}
    if video is not None:
        shutil.copyfile(video, out / "video.mp4")
        manifest["streams"]["frames"] = {"video": "video.mp4"}
    manifest["ground_truth"] = "smoothed-track" if simulate_imu else "position-only"
    write_bundle(out, manifest, imu, truth, frames_t, telemetry)
    return out


def _baro(info: dict, alt: np.ndarray, takeoff: bool) -> tuple[np.ndarray, str]:
    field_ = info["altitude_field"]
    if str(field_).startswith("assumed"):
        return np.full(len(alt), np.nan), "no height field in the SRT (assumed constant): NaN"
    if takeoff:
        return alt.copy(), f"{field_} (height above the take-off point; origin at take-off level)"
    return alt - alt[0], (
        f"{field_} minus its first value (datum {info.get('altitude_datum')}, not the take-off "
        "point): height above the first fix, not above ground"
    )


def _pry_to_q(pry: np.ndarray | None, n: int) -> np.ndarray:
    if pry is None:
        return np.full((n, 4), np.nan)
    from scipy.spatial.transform import Rotation

    ypr = pry[:, [2, 0, 1]]  # F.PRY = pitch, roll, yaw -> yaw, pitch, roll (ZYX, body->NED)
    q = Rotation.from_euler("ZYX", ypr, degrees=True).as_quat(scalar_first=True)
    return q * np.where(q[:, :1] < 0, -1.0, 1.0)


def _simulated_ahrs(t, p, lat, baro, pry, v):
    """Telemetry for a simulated-IMU clip: an AHRS simulated on the IMU's smoothed track (its
    body frame is the simulated one, yaw along track), the SRT's real height interpolated onto
    it (inside the cue span only)."""
    from harness.clip.track_imu import simulate_ahrs

    tt, q, figures = simulate_ahrs(t, p, _sigma(lat), seed=1)
    inside = (tt >= t[0]) & (tt <= t[-1])
    tt, q = tt[inside], q[inside]
    tel = np.column_stack([tt, q, np.interp(tt, t, baro)])
    note = (
        "AHRS SIMULATED on the smoothed SRT track, consistent with the simulated IMU (yaw along "
        "track, coordinated-turn roll; stand-in AHRS errors in manifest.telemetry)"
    )
    if pry is not None:
        moving = np.hypot(v[:, 0], v[:, 1]) > 2.0
        if moving.any():
            course = np.degrees(np.arctan2(v[moving, 1], v[moving, 0]))
            diff = (pry[moving, 2] - course + 180.0) % 360.0 - 180.0
            note += (
                f"; the SRT's own F.PRY is not used: the simulated IMU's body frame is yaw along "
                f"track, and F.PRY yaw differs from the course by a median {np.median(diff):.0f} "
                "deg (the drone flies sideways), so it would contradict the IMU"
            )
    return tel, figures, note


def _sigma(lat: np.ndarray) -> float:
    steps = np.abs(np.diff(lat))
    quantum = float(steps[steps > 0].min()) * 111_320 if (steps > 0).any() else 0.0
    return max(quantum / np.sqrt(12), 1.0)  # quantisation, and at least a GNSS metre


def _simulated(srt: Path, video, t: np.ndarray, p: np.ndarray, lat: np.ndarray):
    from harness.clip.track_imu import simulate

    if video is not None:
        raise ClipError(
            f"{srt}: simulate_imu works on the SRT alone (its clock starts at the first cue); "
            "import without the video"
        )
    try:
        return simulate(t, p, _sigma(lat))
    except ValueError as exc:
        raise ClipError(f"{srt}: cannot simulate an IMU ({exc}); use a longer flight") from None
