"""Reader: a ROS 2 recording (rosbag2 sqlite3 or MCAP, read with `rosbags`) into a clip bundle.

Topics are found by type (Imu, NavSatFix, Image or CompressedImage, CameraInfo) or named when a
type has several. Clock (`time`): "header" (default) stamps each sample with its header.stamp,
the driver's acquisition time; "receive" with the bag's receive time. The other clock's offset
per topic (median receive - header) is recorded; zero header stamps are refused under
"header". The bundle clock is seconds from the earliest chosen sample. The IMU is declared
FLU (REP-103) and converted to FRD on load; NavSatFix gives position truth (velocity by
differences, no attitude). Bags without embedded definitions (Humble sqlite3) are decoded with
the `distro` typestore.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import numpy as np

from harness.clip import rosbag_msgs as rm
from harness.clip.bundle import write_bundle
from harness.clip.geo import geodetic_to_ned
from harness.clip.manifest import nadir_camera, new_manifest
from harness.errors import ClipError

log = logging.getLogger(__name__)
Clock = Literal["header", "receive"]
CLOCK_NAMES = {"header": "header.stamp", "receive": "bag receive time"}


def _open(path: Path, distro: str):
    from rosbags.highlevel import AnyReader, AnyReaderError
    from rosbags.typesys import Stores, get_typestore

    try:
        store = get_typestore(Stores[f"ROS2_{distro.upper()}"])
    except KeyError:
        raise ClipError(
            f"distro {distro!r}: not a ROS 2 distro rosbags knows (e.g. humble)"
        ) from None
    if not path.exists():
        raise ClipError(f"{path}: does not exist; give the bag folder or its .db3/.mcap file")
    try:
        reader = AnyReader([path], default_typestore=store)
        reader.open()
    except (AnyReaderError, OSError, ValueError) as exc:
        raise ClipError(
            f"{path}: not a readable ROS 2 bag ({exc}); give the folder with metadata.yaml, "
            "or a .db3 / .mcap file"
        ) from None
    except Exception as exc:  # rosbags raises bare KeyError/TypeError on malformed metadata
        raise ClipError(
            f"{path}: rosbags cannot open this bag ({type(exc).__name__}: {exc}); its metadata "
            "or message definitions are damaged: `ros2 bag reindex` it, or re-record"
        ) from None
    return reader


def _pick(reader, path: Path, types: tuple[str, ...], topic: str | None, required: bool):
    conns = [c for c in reader.connections if c.msgtype in types]
    if topic is not None:
        chosen = [c for c in conns if c.topic == topic]
        if not chosen:
            have = ", ".join(sorted({c.topic for c in conns})) or "none"
            raise ClipError(f"{path}: no {'/'.join(types)} topic {topic!r} (have: {have})")
        return chosen[0]
    names = sorted({c.topic for c in conns})
    if len(names) > 1:
        raise ClipError(
            f"{path}: several {'/'.join(types)} topics ({', '.join(names)}); name the one to use"
        )
    if not conns and required:
        raise ClipError(f"{path}: no {'/'.join(types)} topic; record one")
    return conns[0] if conns else None


def _read(reader, conn, path: Path, convert) -> rm.Stamped:
    stamps, recv, values = [], [], []
    for i, (_, t_ns, raw) in enumerate(reader.messages(connections=[conn])):
        where = f"{path}: topic {conn.topic} message {i}"
        try:
            msg = reader.deserialize(raw, conn.msgtype)
        except Exception as exc:  # a wrong typestore shows up as any of several errors
            raise ClipError(
                f"{where}: cannot decode {conn.msgtype} ({type(exc).__name__}: {exc}); a bag "
                "without embedded definitions needs the recorder's distro (--distro)"
            ) from None
        value = convert(msg, where)
        if value is None:
            continue
        stamps.append(rm.stamp_ns(msg))
        recv.append(t_ns)
        values.append(value)
    return rm.Stamped(conn.topic, np.array(stamps, np.int64), np.array(recv, np.int64), values)


def _clock(s: rm.Stamped, clock: Clock, path: Path) -> tuple[np.ndarray, dict]:
    if not len(s.stamp_ns):
        raise ClipError(f"{path}: topic {s.topic} holds no usable message")
    zero = int((s.stamp_ns == 0).sum())
    if clock == "header" and zero:
        raise ClipError(
            f"{path}: topic {s.topic}: {zero} messages have header.stamp 0 (the driver does not "
            "stamp); use time 'receive' (--time receive)"
        )
    t = s.stamp_ns if clock == "header" else s.recv_ns
    order = np.argsort(t, kind="stable")
    back = int((np.diff(t) <= 0).sum())
    if back:
        log.warning(
            "%s: topic %s: %d samples out of order on the %s clock: sorted",
            path,
            s.topic,
            back,
            clock,
        )
    stats = {
        "messages": len(t),
        "receive_minus_header_ms_median": float(np.median(s.recv_ns - s.stamp_ns) / 1e6),
        "zero_header_stamps": zero,
        "reordered": back,
    }
    return order, stats


def import_rosbag(
    path: Path,
    out: Path,
    *,
    imu_topic: str | None = None,
    gnss_topic: str | None = None,
    image_topic: str | None = None,
    camera_info_topic: str | None = None,
    time: Clock = "header",
    distro: str = "humble",
    hfov_deg: float = 60.0,
) -> Path:
    """Write a bundle at `out` from a rosbag2 recording; see the module docstring."""
    from harness.clip.video import write_video

    path, out = Path(path), Path(out)
    if time not in ("header", "receive"):
        raise ClipError(f"time {time!r}: use 'header' or 'receive'")
    reader = _open(path, distro)
    try:
        c_imu = _pick(reader, path, (rm.IMU,), imu_topic, required=False)
        c_gnss = _pick(reader, path, (rm.NAVSAT,), gnss_topic, required=False)
        c_img = _pick(reader, path, (rm.IMAGE, rm.COMPRESSED), image_topic, required=False)
        c_info = _pick(reader, path, (rm.CAMERA_INFO,), camera_info_topic, required=False)
        if c_gnss is None:
            raise ClipError(
                f"{path}: no sensor_msgs/msg/NavSatFix topic: the clip's origin and truth come "
                "from it; record a GNSS fix topic"
            )
        gnss = _read(reader, c_gnss, path, lambda m, _: rm.navsat_row(m))
        imu = _read(reader, c_imu, path, lambda m, _: rm.imu_row(m)) if c_imu else None
        images = _read(reader, c_img, path, rm.image_rgb) if c_img else None
        info = None
        if c_info is not None:
            info = next(
                (
                    rm.camera(reader.deserialize(raw, c_info.msgtype))
                    for _, _, raw in reader.messages(connections=[c_info])
                ),
                None,
            )
    finally:
        reader.close()
    streams = [s for s in (gnss, imu, images) if s is not None]
    clocks = {s.topic: _clock(s, time, path) for s in streams}
    t0 = min(
        (s.stamp_ns if time == "header" else s.recv_ns)[clocks[s.topic][0][0]] for s in streams
    )

    def seconds(s: rm.Stamped) -> tuple[np.ndarray, np.ndarray]:
        order = clocks[s.topic][0]
        t = (s.stamp_ns if time == "header" else s.recv_ns)[order]
        return (t - t0) / 1e9, order

    tg, og = seconds(gnss)
    lla = np.asarray(gnss.values, dtype=np.float64)[og]
    if not np.isfinite(lla[:, 2]).all():
        raise ClipError(
            f"{path}: topic {gnss.topic}: NavSatFix altitude is NaN on "
            f"{int(np.isnan(lla[:, 2]).sum())} fixes; the truth needs a height: record a "
            "receiver that reports altitude"
        )
    origin = (float(lla[0, 0]), float(lla[0, 1]), float(lla[0, 2]))
    p = geodetic_to_ned(lla[:, 0], lla[:, 1], lla[:, 2], origin)
    v = np.gradient(p, tg, axis=0) if len(tg) > 1 else np.zeros_like(p)
    truth = np.column_stack([tg, p, v, np.full((len(tg), 4), np.nan)])
    imu_tab = None
    if imu is not None:
        ti, oi = seconds(imu)
        imu_tab = np.column_stack([ti, np.asarray(imu.values, dtype=np.float64)[oi]])
    out.mkdir(parents=True, exist_ok=True)
    frames_t, camera = None, None
    if images is not None:
        tf, of = seconds(images)
        fps = (len(tf) - 1) / (tf[-1] - tf[0]) if len(tf) > 1 else 1.0
        write_video(out / "video.mp4", (images.values[i] for i in of), fps)
        frames_t = tf
        h, w = images.values[0].shape[:2]
        camera = nadir_camera(w, h, hfov_deg)
        if info is not None:
            camera.update({k: info[k] for k in ("fx", "fy", "cx", "cy", "width", "height")})
            camera["distortion"] = {"model": info["distortion_model"], "d": info["d"]}
    ends = [
        float(x[-1])
        for x in (tg, None if imu_tab is None else imu_tab[:, 0], frames_t)
        if x is not None
    ]
    manifest = new_manifest(
        f"ROS 2 {path.name}",
        origin,
        max(ends) + 1e-3,
        {
            "reader": "harness.clip.rosbag",
            "bag": path.name,
            "clock": time,
            "topics": {topic: stats for topic, (_, stats) in clocks.items()},
            "camera_info_topic": None if c_info is None else c_info.topic,
            "camera_mounting": "assumed nadir, image top forward (CameraInfo has no mounting)",
            "time_alignment": f"bundle t_s = ({CLOCK_NAMES[time]} - {t0} ns) / 1e9",
        },
        camera=camera,
    )
    manifest["conventions"]["body_frame"] = "FLU"  # REP-103; converted to FRD on load
    if frames_t is not None:
        manifest["streams"]["frames"] = {"video": "video.mp4"}
    manifest["ground_truth"] = "gnss-position-only"
    write_bundle(out, manifest, imu_tab, truth, frames_t)
    return out
