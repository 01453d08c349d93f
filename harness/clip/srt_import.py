"""A DJI .SRT (and, optionally, the video it belongs to) written as a clip bundle.

Time alignment: the SRT's cue times are the video's timeline, so the bundle's clock is the
video's (frames stamped by their presentation times, truth by cue starts). Without a video the
clock starts at the first usable cue and the shift is recorded. Truth is position only (NaN
attitude); DJI SRT holds no IMU, so the bundle's IMU stream is absent.
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
        else:
            lat, lon = track.lat_deg, track.lon_deg
        duration = max(end, float(t[-1]))
    else:
        shift = float(t[0])
        t = t - shift
        lat, lon = track.lat_deg, track.lon_deg
        last = track.dur_s[-1] if np.isfinite(track.dur_s[-1]) else np.nanmedian(np.diff(t))
        duration = float(t[-1] + (last if np.isfinite(last) else 1.0))
    if not len(t):
        raise ClipError(f"{srt}: every cue lies after the end of {video}; is it the right video?")
    origin = (float(lat[0]), float(lon[0]), float(alt[0]))
    p = geodetic_to_ned(lat, lon, alt, origin)
    v = np.gradient(p, t, axis=0) if len(t) > 1 else np.zeros_like(p)
    truth = np.column_stack([t, p, v, np.full((len(t), 4), np.nan)])
    imu, imu_note = None, "no IMU in a DJI SRT"
    if simulate_imu:
        imu, truth, noise = _simulated(srt, video, t, p, lat)
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
        },
        camera=camera,
    )
    if simulate_imu:
        manifest["imu_noise"] = noise
        manifest["imu_source"] = "simulated-from-track"
    if video is not None:
        shutil.copyfile(video, out / "video.mp4")
        manifest["streams"]["frames"] = {"video": "video.mp4"}
    manifest["ground_truth"] = "smoothed-track" if simulate_imu else "position-only"
    write_bundle(out, manifest, imu, truth, frames_t)
    return out


def _simulated(srt: Path, video, t: np.ndarray, p: np.ndarray, lat: np.ndarray):
    from harness.clip.track_imu import simulate

    if video is not None:
        raise ClipError(
            f"{srt}: simulate_imu works on the SRT alone (its clock starts at the first cue); "
            "import without the video"
        )
    steps = np.abs(np.diff(lat))
    quantum = float(steps[steps > 0].min()) * 111_320 if (steps > 0).any() else 0.0
    sigma = max(quantum / np.sqrt(12), 1.0)  # quantisation, and at least a GNSS metre
    try:
        return simulate(t, p, sigma)
    except ValueError as exc:
        raise ClipError(f"{srt}: cannot simulate an IMU ({exc}); use a longer flight") from None
