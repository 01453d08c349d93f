"""Reader: a PX4 ULog (pyulog) into a clip bundle: sensor_combined is the IMU, GPS the truth.

Truth positions come from vehicle_gps_position (or sensor_gps, else vehicle_global_position),
velocities from the GPS NED velocity, attitude from vehicle_attitude (slerped to GPS times).
PX4 already logs FRD body, NED world and w-first Hamilton quaternions. A ULog holds no video:
give the nadir camera's mp4 and the clip time of its first frame to add frames.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import numpy as np
from pyulog import ULog
from scipy.spatial.transform import Rotation, Slerp

from harness.clip.bundle import write_bundle
from harness.clip.geo import geodetic_to_ned
from harness.clip.manifest import nadir_camera, new_manifest
from harness.clip.video import probe
from harness.errors import ClipError

log = logging.getLogger(__name__)
MAGIC = b"ULog\x01\x12\x35"
GPS_TOPICS = ("vehicle_gps_position", "sensor_gps", "vehicle_global_position")


def _open(path: Path) -> ULog:
    try:
        with Path(path).open("rb") as f:
            head = f.read(16)
    except OSError as exc:
        raise ClipError(f"{path}: cannot read ({exc})") from None
    if head[:7] != MAGIC:
        raise ClipError(
            f"{path}: byte 0: not a ULog file (magic {head[:7]!r}, want {MAGIC!r}); give a PX4 .ulg"
        )
    try:
        ulog = ULog(str(path), ["sensor_combined", "vehicle_attitude", *GPS_TOPICS])
    except Exception as exc:  # pyulog raises bare exceptions of several kinds on broken files
        raise ClipError(
            f"{path}: pyulog cannot parse the file ({type(exc).__name__}: {exc}); "
            "the definitions section is damaged: re-download the log"
        ) from None
    if ulog.file_corruption:
        log.warning("%s: corrupt data skipped by pyulog; kept every message that parsed", path)
    return ulog


def _topic(ulog: ULog, name: str):
    return next((d for d in ulog.data_list if d.name == name and d.multi_id == 0), None)


def _monotonic(t: np.ndarray, path: Path, topic: str) -> None:
    bad = np.flatnonzero(np.diff(t) <= 0)
    if len(bad):
        i = int(bad[0]) + 1
        raise ClipError(
            f"{path}: topic {topic} message {i}: timestamp {t[i]:.0f} us does not increase "
            f"(previous {t[i - 1]:.0f} us); the log's clock is broken"
        )


def _gps(d) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    data = d.data
    if "latitude_deg" in data:
        lat, lon, alt = data["latitude_deg"], data["longitude_deg"], data["altitude_msl_m"]
    elif d.name == "vehicle_global_position":
        lat, lon, alt = data["lat"], data["lon"], data["alt"]
    else:
        lat, lon, alt = data["lat"] * 1e-7, data["lon"] * 1e-7, data["alt"] * 1e-3
    ok = np.isfinite(lat) & (np.abs(lat) > 1e-6)
    if "fix_type" in data:
        ok &= data["fix_type"] >= 3
    return data["timestamp"][ok].astype(np.float64), lat[ok], lon[ok], alt[ok].astype(np.float64)


def import_ulog(
    path: Path,
    out: Path,
    video: Path | None = None,
    video_start_s: float = 0.0,
    hfov_deg: float = 60.0,
) -> Path:
    """Write an IMU + truth bundle at `out` from a PX4 .ulg; frames too when a video is given.

    `video_start_s`: clip time (from the first sensor_combined sample) of the video's first frame.
    """
    path = Path(path)
    ulog = _open(path)
    sc = _topic(ulog, "sensor_combined")
    if sc is None or len(sc.data["timestamp"]) < 2:
        raise ClipError(
            f"{path}: topic sensor_combined is missing or empty; log it "
            "(SDLOG_PROFILE) to get an IMU"
        )
    ts = sc.data["timestamp"].astype(np.float64)
    _monotonic(ts, path, "sensor_combined")
    t0 = ts[0]
    gyro = np.column_stack([sc.data[f"gyro_rad[{i}]"] for i in range(3)])
    accel = np.column_stack([sc.data[f"accelerometer_m_s2[{i}]"] for i in range(3)])
    imu = np.column_stack([(ts - t0) / 1e6, gyro, accel])
    gps = next((d for name in GPS_TOPICS if (d := _topic(ulog, name)) is not None), None)
    truth, origin = None, None
    if gps is not None:
        tg, lat, lon, alt = _gps(gps)
        keep = tg >= t0
        tg, lat, lon, alt = tg[keep], lat[keep], lon[keep], alt[keep]
        _monotonic(tg, path, gps.name)
        if len(tg):
            origin = (float(lat[0]), float(lon[0]), float(alt[0]))
            p = geodetic_to_ned(lat, lon, alt, origin)
            sel = gps.data["timestamp"] >= t0
            if "vel_n_m_s" in gps.data:
                fields = ("vel_n_m_s", "vel_e_m_s", "vel_d_m_s")
            else:
                fields = ("vel_n", "vel_e", "vel_d")
            if all(f in gps.data for f in fields):
                ok = np.isin(gps.data["timestamp"][sel].astype(np.float64), tg)
                v = np.column_stack([gps.data[f][sel][ok] for f in fields])
            else:
                v = np.gradient(p, tg / 1e6, axis=0) if len(tg) > 1 else np.zeros_like(p)
            truth = np.column_stack([(tg - t0) / 1e6, p, v, _attitude(ulog, tg)])
    if origin is None:
        raise ClipError(
            f"{path}: no GPS fix in {', '.join(GPS_TOPICS)}; the clip needs an origin: "
            "use a log with GPS, or write the bundle by hand with an origin"
        )
    duration = float(imu[-1, 0])
    info = ulog.msg_info_dict
    manifest = new_manifest(
        f"PX4 {path.name}",
        origin,
        duration,
        {
            "reader": "harness.clip.ulog",
            "ulog": path.name,
            "sys_name": str(info.get("sys_name", "")),
            "ver_hw": str(info.get("ver_hw", "")),
            "gps_topic": gps.name,
            "file_corruption": bool(ulog.file_corruption),
        },
    )
    manifest["ground_truth"] = "gnss"
    frames_t = None
    if video is not None:
        width, height, pts = probe(video)
        frames_t = video_start_s + pts
        keep = (frames_t >= 0) & (frames_t < duration)
        if not keep.all() or len(frames_t) == 0:
            raise ClipError(
                f"{video}: frames span [{frames_t.min():.3f}, {frames_t.max():.3f}] s but "
                "the log's IMU "
                f"spans [0, {duration:.3f}] s; fix video_start_s or trim the video"
            )
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(video, out / "video.mp4")
        manifest["camera"] = nadir_camera(width, height, hfov_deg)
        manifest["streams"]["frames"] = {"video": "video.mp4", "video_start_s": video_start_s}
    write_bundle(out, manifest, imu, truth, frames_t)
    return out


def _attitude(ulog: ULog, t_us: np.ndarray) -> np.ndarray:
    att = _topic(ulog, "vehicle_attitude")
    out = np.full((len(t_us), 4), np.nan)
    if att is None or len(att.data["timestamp"]) < 2:
        return out
    ta = att.data["timestamp"].astype(np.float64)
    q = np.column_stack([att.data[f"q[{i}]"] for i in range(4)])
    inside = (t_us >= ta[0]) & (t_us <= ta[-1])
    slerp = Slerp(ta, Rotation.from_quat(q, scalar_first=True))
    if inside.any():
        qi = slerp(t_us[inside]).as_quat(scalar_first=True)
        out[inside] = qi * np.where(qi[:, :1] < 0, -1.0, 1.0)
    return out
