"""sensor_msgs of a ROS 2 bag as arrays: Imu, NavSatFix, Image / CompressedImage, CameraInfo.

Every message keeps both clocks: its header.stamp (the driver's acquisition time) and the
bag's receive time; the reader chooses one and records the other's offset.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from harness.errors import ClipError

IMU = "sensor_msgs/msg/Imu"
NAVSAT = "sensor_msgs/msg/NavSatFix"
IMAGE = "sensor_msgs/msg/Image"
COMPRESSED = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"


@dataclass(frozen=True)
class Stamped:
    topic: str
    stamp_ns: np.ndarray  # header.stamp
    recv_ns: np.ndarray  # the bag's receive time
    values: np.ndarray | list  # (N, k) numbers, or decoded images


def stamp_ns(msg) -> int:
    return int(msg.header.stamp.sec) * 1_000_000_000 + int(msg.header.stamp.nanosec)


def imu_row(msg) -> list[float]:
    """gyro xyz [rad/s], accel xyz [m/s^2] in the message's frame (REP-103: FLU)."""
    w, a = msg.angular_velocity, msg.linear_acceleration
    return [w.x, w.y, w.z, a.x, a.y, a.z]


def navsat_row(msg) -> list[float] | None:
    """lat, lon, alt (ellipsoid) of a message with a fix; None for status -1 (no fix) or NaN."""
    if msg.status.status < 0:
        return None
    row = [msg.latitude, msg.longitude, msg.altitude]
    return row if np.isfinite(row[:2]).all() else None


_CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}


def image_rgb(msg, where: str) -> np.ndarray:
    """H x W x 3 uint8 RGB from an Image (8-bit encodings) or a CompressedImage (JPEG/PNG)."""
    if hasattr(msg, "format"):
        from PIL import Image, UnidentifiedImageError

        try:
            return np.asarray(Image.open(io.BytesIO(msg.data.tobytes())).convert("RGB"))
        except (OSError, UnidentifiedImageError) as exc:
            raise ClipError(
                f"{where}: CompressedImage format {msg.format!r} cannot be decoded ({exc}); "
                "record JPEG or PNG images"
            ) from None
    enc = msg.encoding.lower()
    if enc not in _CHANNELS:
        raise ClipError(
            f"{where}: Image encoding {msg.encoding!r} is not read (use one of "
            f"{', '.join(_CHANNELS)}); convert the topic with image_transport or cv_bridge"
        )
    ch = _CHANNELS[enc]
    rows = np.asarray(msg.data, dtype=np.uint8).reshape(msg.height, msg.step)
    img = rows[:, : msg.width * ch].reshape(msg.height, msg.width, ch)
    if ch == 1:
        return np.repeat(img, 3, axis=2)
    rgb = img[..., :3]
    return rgb[..., ::-1].copy() if enc.startswith("bgr") else rgb.copy()


def camera(msg) -> dict:
    """Pinhole intrinsics from CameraInfo.k (row-major 3x3), image size and distortion."""
    k = np.asarray(msg.k, dtype=np.float64)
    return {
        "fx": float(k[0]),
        "fy": float(k[4]),
        "cx": float(k[2]),
        "cy": float(k[5]),
        "width": int(msg.width),
        "height": int(msg.height),
        "distortion_model": msg.distortion_model,
        "d": [float(x) for x in msg.d],
    }
