"""A DJI .SRT (and, optionally, the video it belongs to) written as a clip bundle.

Time alignment: the SRT's cue times are the video's timeline, so the bundle's clock is the
video's (frames stamped by their presentation times, truth by cue starts). Without a video the
clock starts at the first usable cue and the shift is recorded. Truth is position only (NaN
attitude); DJI SRT holds no IMU, so the bundle's IMU stream is absent.

Heights (srt_heights): truth's altitude is the file's altitude field (abs_alt, altitude; datum
named) or its height above take-off; the baro stream is the height above take-off (rel_alt,
BAROMETER, Hb, H) and NaN in generations that write none. Attitude: the drone's own (F.PRY,
`[Drone: Yaw ..]`, `[drone_yaw ..]`), NaN in cues without it; with `simulate_imu` an AHRS
simulated on the same smoothed track as the IMU (labelled). The gimbal's attitude is the
camera's: summarised beside the bundle's nadir mounting, never used as the drone's.
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
from harness.clip.srt_heights import heights
from harness.clip.video import probe
from harness.errors import ClipError

log = logging.getLogger(__name__)


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
    h = heights(track, srt, assume_alt_m)
    camera, frames_t = None, None
    t = track.t_s.copy()
    keep = np.ones(len(t), bool)
    if video is not None:
        width, height, frames_t = probe(Path(video))
        camera = nadir_camera(width, height, hfov_deg)
        end = float(frames_t[-1]) + float(np.median(np.diff(frames_t)))
        shift = 0.0
        keep = t <= end
        if not keep.all():
            log.warning(
                "%s: %d cues start after the video ends (%.3f s): dropped",
                srt,
                int((~keep).sum()),
                end,
            )
        t = t[keep]
        if not len(t):
            raise ClipError(
                f"{srt}: every cue lies after the end of {video}; is it the right video?"
            )
        duration = max(end, float(t[-1]))
    else:
        shift = float(t[0])
        t = t - shift
        last = track.dur_s[-1] if np.isfinite(track.dur_s[-1]) else np.nanmedian(np.diff(t))
        duration = float(t[-1] + (last if np.isfinite(last) else 1.0))
    lat, lon, up, baro = track.lat_deg[keep], track.lon_deg[keep], h.up_m[keep], h.baro_m[keep]
    drone = None if track.drone_ypr_deg is None else track.drone_ypr_deg[keep]
    origin = (float(lat[0]), float(lon[0]), h.origin_alt_m)
    p = geodetic_to_ned(lat, lon, up, origin)
    v = np.gradient(p, t, axis=0) if len(t) > 1 else np.zeros_like(p)
    truth = np.column_stack([t, p, v, np.full((len(t), 4), np.nan)])
    telemetry = np.column_stack([t, _ypr_to_q(drone, len(t)), baro])
    att_note = (
        f"drone attitude from the SRT's {track.info['attitude_field']} (DJI's own, yaw from its "
        "compass); NaN in cues without it"
        if drone is not None
        else "no drone attitude in this SRT: NaN"
    )
    imu, imu_note = None, "no IMU in a DJI SRT"
    if simulate_imu:
        imu, truth, noise = _simulated(srt, video, t, p, lat)
        telemetry, ahrs, att_note = _simulated_ahrs(t, p, lat, baro, drone, v)
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
            "truth_altitude": h.truth_note,
            "telemetry_baro": h.baro_note,
            "telemetry_attitude": att_note,
            "camera_attitude": _camera_note(track),
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


def _ypr_to_q(ypr: np.ndarray | None, n: int) -> np.ndarray:
    """Body -> NED quaternions (w >= 0) of (yaw, pitch, roll) rows; NaN rows stay NaN."""
    if ypr is None:
        return np.full((n, 4), np.nan)
    from scipy.spatial.transform import Rotation

    q = np.full((n, 4), np.nan)
    ok = np.isfinite(ypr).all(axis=1)
    if ok.any():
        q[ok] = Rotation.from_euler("ZYX", ypr[ok], degrees=True).as_quat(scalar_first=True)
    return q * np.where(q[:, :1] < 0, -1.0, 1.0)


def _camera_note(track: SrtTrack) -> str:
    """What the file says of its camera (the gimbal), beside the bundle's nadir mounting."""
    cam = track.camera_ypr_deg
    if cam is None or not np.isfinite(cam[:, 1]).any():
        return "no gimbal attitude in this SRT: the camera is assumed nadir"
    pitch = float(np.nanmedian(cam[:, 1]))
    note = (
        f"gimbal (camera) attitude from {track.info['camera_attitude_field']}: median pitch "
        f"{pitch:.1f} deg (-90 = nadir); kept as the camera's, never as the drone's"
    )
    if abs(pitch + 90.0) > 10.0:
        off = abs(pitch + 90.0)
        note += f"; the camera looks {off:.0f} deg off nadir: the bundle's nadir mounting is wrong"
    return note


def _simulated_ahrs(t, p, lat, baro, drone, v):
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
    if drone is not None:
        moving = np.hypot(v[:, 0], v[:, 1]) > 2.0
        if moving.any():
            course = np.degrees(np.arctan2(v[moving, 1], v[moving, 0]))
            diff = (drone[moving, 0] - course + 180.0) % 360.0 - 180.0
            note += (
                "; the SRT's own drone attitude is not used: the simulated IMU's body frame is "
                "yaw along track, and its yaw differs from the course by a median "
                f"{np.median(diff):.0f} deg (the drone flies sideways), so it would contradict "
                "the IMU"
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
