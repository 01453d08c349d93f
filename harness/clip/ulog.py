"""Reader: a PX4 ULog (pyulog) into a clip bundle: IMU, barometer, telemetry, and truth.

IMU: the fastest topic the log holds (ulog_imu: sensor_combined, vehicle_imu, sensor_gyro +
sensor_accel), refused below `min_imu_hz` naming the topic and its rate; its dropouts are
recorded with their spans. Barometer:
vehicle_air_data, written as the bundle's `baro` stream. Truth (`truth_source`): "gnss" =
vehicle_gps_position / sensor_gps 3D fixes with the receiver's NED velocity, or "estimate" =
the autopilot's own EKF output (vehicle_global_position + vehicle_local_position velocity);
attitude from vehicle_attitude, slerped. Truth rows are kept only where every truth topic has
data around them: nothing outside a topic's span is filled with NaN or extrapolated.
Telemetry (what the onboard stack reads, never truth): vehicle_attitude (the autopilot's AHRS)
and vehicle_air_data baro height above the truth origin's instant, on vehicle_attitude's stamps.
PX4 logs FRD body, NED world and w-first Hamilton quaternions, as the bundle wants.

Time alignment: all topics share the autopilot's boot clock; the bundle clock is seconds from
the first IMU sample; a video's first frame sits at `video_start_s` on that clock.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Literal

import numpy as np
from scipy.spatial.transform import Rotation, Slerp

from harness.clip import ulog_topics as topics
from harness.clip.bundle import write_bundle
from harness.clip.geo import geodetic_to_ned
from harness.clip.imu_rate import MIN_IMU_HZ, dropouts
from harness.clip.manifest import nadir_camera, new_manifest
from harness.clip.ulog_imu import Imu, best_imu
from harness.clip.video import probe
from harness.errors import ClipError

log = logging.getLogger(__name__)
MAGIC = b"ULog\x01\x12\x35"
TruthSource = Literal["gnss", "estimate"]


def _open(path: Path):
    from pyulog import ULog

    if path.is_dir():
        raise ClipError(f"{path}: is a directory; give the PX4 .ulg file")
    try:
        with path.open("rb") as f:
            head = f.read(16)
    except OSError as exc:
        raise ClipError(f"{path}: cannot read ({exc.strerror}); check the path") from None
    if head[:7] != MAGIC:
        raise ClipError(
            f"{path}: byte 0: not a ULog file (magic {head[:7]!r}, want {MAGIC!r}); give a PX4 .ulg"
        )
    try:
        ulog = ULog(str(path), topics.TOPICS)
    except Exception as exc:  # pyulog raises bare exceptions of several kinds on broken files
        raise ClipError(
            f"{path}: pyulog cannot parse the file ({type(exc).__name__}: {exc}); "
            "the definitions section is damaged: re-download the log"
        ) from None
    if ulog.file_corruption:
        log.warning("%s: corrupt data skipped by pyulog; kept every message that parsed", path)
    return ulog


def _monotonic(t: np.ndarray, path: Path, topic: str) -> None:
    bad = np.flatnonzero(np.diff(t) <= 0)
    if len(bad):
        i = int(bad[0]) + 1
        raise ClipError(
            f"{path}: topic {topic} message {i}: timestamp {t[i]:.0f} us does not increase "
            f"(previous {t[i - 1]:.0f} us); the log's clock is broken"
        )


def _truth(ulog, path: Path, source: TruthSource, t0: float, t_end: float):
    """(truth table, origin, provenance) with rows only inside every truth topic's span."""
    pos = topics.gnss(ulog) if source == "gnss" else topics.estimate(ulog)
    if pos is None or not len(pos.t_us):
        wanted = (
            ", ".join(topics.GNSS_TOPICS)
            if source == "gnss"
            else ("vehicle_global_position and vehicle_local_position")
        )
        other = "estimate" if source == "gnss" else "gnss"
        raise ClipError(
            f"{path}: truth_source {source!r} needs {wanted} with a 3D fix; the log has none: "
            f"try truth_source {other!r}, or log those topics"
        )
    _monotonic(pos.t_us, path, pos.topic)
    att = topics.attitude(ulog)
    lo, hi = t0, t_end
    if att is not None:
        lo, hi = max(lo, att.t_us[0]), min(hi, att.t_us[-1])
    keep = (pos.t_us >= lo) & (pos.t_us <= hi)
    t, vals = pos.t_us[keep], pos.values[keep]
    if not len(t):
        raise ClipError(
            f"{path}: no {pos.topic} sample lies inside the IMU and vehicle_attitude spans; "
            "the log has no usable truth"
        )
    origin = (float(vals[0, 0]), float(vals[0, 1]), float(vals[0, 2]))
    p = geodetic_to_ned(vals[:, 0], vals[:, 1], vals[:, 2], origin)
    v = vals[:, 3:6]
    if not np.isfinite(v).all():
        v = np.gradient(p, t / 1e6, axis=0) if len(t) > 1 else np.zeros_like(p)
    q = np.full((len(t), 4), np.nan)
    if att is not None:
        slerp = Slerp(att.t_us, Rotation.from_quat(att.values, scalar_first=True))
        q = slerp(t).as_quat(scalar_first=True)
        q *= np.where(q[:, :1] < 0, -1.0, 1.0)
    prov = {
        "truth_source": source,
        "truth_topic": pos.topic,
        "attitude_topic": None if att is None else att.topic,
        "truth_dropped_outside_spans": int((~keep).sum()),
    }
    return np.column_stack([(t - t0) / 1e6, p, v, q]), origin, prov


def _telemetry(ulog, t0: float, t_end: float, t_origin_us: float):
    """(telemetry table or None, provenance): the autopilot's own AHRS (vehicle_attitude) and
    barometric height (vehicle_air_data `baro_alt_meter` minus its value at the truth origin's
    instant), on vehicle_attitude's clock inside both topics' spans and the IMU's; the baro is
    linearly interpolated onto those instants (never extrapolated, never NaN-filled)."""
    att, baro = topics.attitude(ulog), topics.baro(ulog)
    prov = {
        "telemetry_attitude_topic": None if att is None else att.topic,
        "telemetry_baro_topic": None if baro is None else baro.topic,
    }
    if att is None or baro is None or len(baro.t_us) < 2:
        return None, {**prov, "telemetry": "absent: needs vehicle_attitude and vehicle_air_data"}
    lo = max(t0, att.t_us[0], baro.t_us[0])
    hi = min(t_end, att.t_us[-1], baro.t_us[-1])
    keep = (att.t_us >= lo) & (att.t_us <= hi)
    if keep.sum() < 2:
        return None, {
            **prov,
            "telemetry": "absent: vehicle_attitude and vehicle_air_data spans do not overlap",
        }
    t = att.t_us[keep]
    q = att.values[keep] / np.linalg.norm(att.values[keep], axis=1, keepdims=True)
    q *= np.where(q[:, :1] < 0, -1.0, 1.0)
    alt = baro.values[:, 0]
    ref = float(np.interp(t_origin_us, baro.t_us, alt))
    height = np.interp(t, baro.t_us, alt) - ref
    prov.update(
        {
            "telemetry": (
                "autopilot AHRS (vehicle_attitude) + baro (vehicle_air_data baro_alt_meter minus "
                "its value at the truth origin's instant); rows at vehicle_attitude stamps inside "
                "both topics' spans and the IMU's, baro linearly interpolated"
            ),
            "telemetry_baro_origin_alt_m": ref,
            "telemetry_dropped_outside_spans": int((~keep).sum()),
        }
    )
    return np.column_stack([(t - t0) / 1e6, q, height]), prov


def _imu(ulog, path: Path, min_imu_hz: float) -> Imu:
    """The log's fastest IMU; refused when there is none or it is slower than `min_imu_hz`."""
    found = best_imu(ulog)
    if found is None:
        raise ClipError(
            f"{path}: no IMU topic holds data (sensor_combined, vehicle_imu, sensor_gyro + "
            "sensor_accel); log one of them (SDLOG_PROFILE) to get an IMU"
        )
    if found.rate_hz < min_imu_hz:
        each = ", ".join(f"{k} {v:.1f} Hz" for k, v in found.candidates.items())
        raise ClipError(
            f"{path}: the fastest IMU topic, {found.series.topic}, is logged at "
            f"{found.rate_hz:.1f} Hz (median), below the {min_imu_hz:.0f} Hz a strapdown filter "
            f"needs (the reference ESKF's stated minimum); the log's IMU topics: {each}. Log the "
            "IMU faster (SDLOG_PROFILE high rate, or sensor_combined at full rate), or import "
            "with min_imu_hz=0 (--min-imu-hz 0) for a clip no filter integrates"
        )
    return found


def import_ulog(
    path: Path,
    out: Path,
    video: Path | None = None,
    video_start_s: float = 0.0,
    hfov_deg: float = 60.0,
    truth_source: TruthSource = "gnss",
    min_imu_hz: float = MIN_IMU_HZ,
) -> Path:
    """Write an IMU + baro + truth bundle at `out` from a PX4 .ulg; frames when a video is given.

    `video_start_s`: clip time (from the first IMU sample) of the video's first frame.
    `min_imu_hz`: the slowest IMU accepted (default: the reference ESKF's stated minimum).
    """
    path, out = Path(path), Path(out)
    if truth_source not in ("gnss", "estimate"):
        raise ClipError(f"truth_source {truth_source!r}: use 'gnss' or 'estimate'")
    ulog = _open(path)
    found = _imu(ulog, path, min_imu_hz)
    imu_s = found.series
    _monotonic(imu_s.t_us, path, imu_s.topic)
    t0, t_end = imu_s.t_us[0], imu_s.t_us[-1]
    imu = np.column_stack([(imu_s.t_us - t0) / 1e6, imu_s.values])
    gaps = [[round(a, 3), round(b, 3)] for a, b in dropouts(imu[:, 0])]
    for a, b in gaps:
        log.warning("%s: %s drops out from %.3f s to %.3f s (clip time)", path, imu_s.topic, a, b)
    truth, origin, truth_prov = _truth(ulog, path, truth_source, t0, t_end)
    telemetry, tel_prov = _telemetry(ulog, t0, t_end, t0 + truth[0, 0] * 1e6)
    extra = {}
    baro = topics.baro(ulog)
    if baro is not None:
        inside = (baro.t_us >= t0) & (baro.t_us <= t_end)
        if inside.sum() >= 2:
            extra["baro"] = (
                np.column_stack([(baro.t_us[inside] - t0) / 1e6, baro.values[inside]]),
                ["t_s", "baro_alt_m"],
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
            "imu_topic": imu_s.topic,
            "imu_rate_hz": round(found.rate_hz, 2),
            "imu_candidates_hz": {k: round(v, 2) for k, v in found.candidates.items()},
            "imu_dropouts": gaps,
            "baro_topic": None if baro is None else baro.topic,
            **truth_prov,
            **tel_prov,
            "file_corruption": bool(ulog.file_corruption),
            "time_alignment": "boot clock (us) of every topic; bundle t_s = (t - first IMU) / 1e6",
        },
    )
    manifest["ground_truth"] = "gnss" if truth_source == "gnss" else "autopilot-estimate"
    frames_t = None
    if video is not None:
        width, height, pts = probe(Path(video))
        frames_t = video_start_s + pts
        keep = (frames_t >= 0) & (frames_t < duration)
        if not keep.all():
            raise ClipError(
                f"{video}: frames span [{frames_t.min():.3f}, {frames_t.max():.3f}] s but "
                f"the log's IMU spans [0, {duration:.3f}] s; fix video_start_s or trim the video"
            )
        out.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(video, out / "video.mp4")
        manifest["camera"] = nadir_camera(width, height, hfov_deg)
        manifest["streams"]["frames"] = {"video": "video.mp4", "video_start_s": video_start_s}
    write_bundle(out, manifest, imu, truth, frames_t, telemetry, extra=extra)
    return out
