"""The PX4 uORB topics a clip is made of, each as (times [us on the boot clock], values).

Every ULog topic is stamped by the autopilot's one boot clock (microseconds). A topic's
`timestamp_sample` (the measurement instant) is used where the topic has it, else its
`timestamp` (publication). sensor_combined rows are stamped with the gyro instant; its
`accelerometer_timestamp_relative` (a fraction of a sample) is not applied.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GNSS_TOPICS = ("vehicle_gps_position", "sensor_gps")
IMU_TOPICS = ("sensor_combined", "vehicle_imu", "sensor_gyro", "sensor_accel")


@dataclass(frozen=True)
class Series:
    topic: str
    t_us: np.ndarray
    values: np.ndarray  # (N, k)


def topic(ulog, name: str):
    return next((d for d in ulog.data_list if d.name == name and d.multi_id == 0), None)


def instances(ulog, name: str) -> list:
    """Every instance of a topic (multi_id order) that holds data."""
    found = [d for d in ulog.data_list if d.name == name and len(d.data["timestamp"])]
    return sorted(found, key=lambda d: d.multi_id)


def stamp(data: dict) -> np.ndarray:
    t = data.get("timestamp_sample")
    if t is None or not np.any(t):
        t = data["timestamp"]
    return t.astype(np.float64)


def cols(data: dict, names: list[str]) -> np.ndarray:
    return np.column_stack([np.asarray(data[n], dtype=np.float64) for n in names])


def gnss(ulog) -> Series | None:
    """3D fixes: lat [deg], lon [deg], alt MSL [m], NED velocity [m/s] (NaN if not logged)."""
    for name in GNSS_TOPICS:
        d = topic(ulog, name)
        if d is None:
            continue
        data = d.data
        if "latitude_deg" in data:
            lla = cols(data, ["latitude_deg", "longitude_deg", "altitude_msl_m"])
        else:
            lla = cols(data, ["lat", "lon", "alt"]) * np.array([1e-7, 1e-7, 1e-3])
        ok = np.isfinite(lla[:, 0]) & (np.abs(lla[:, 0]) > 1e-6)
        if "fix_type" in data:
            ok &= data["fix_type"] >= 3
        vel = ["vel_n_m_s", "vel_e_m_s", "vel_d_m_s"]
        v = cols(data, vel) if all(k in data for k in vel) else np.full((len(ok), 3), np.nan)
        return Series(name, data["timestamp"].astype(np.float64)[ok], np.hstack([lla, v])[ok])
    return None


def estimate(ulog) -> Series | None:
    """The autopilot's own position estimate with its NED velocity: vehicle_global_position
    (velocity from vehicle_local_position, inside its span only), else vehicle_local_position
    rows that hold a global reference (xy_global and z_global set)."""
    from harness.clip.geo import ned_to_geodetic

    g, loc = topic(ulog, "vehicle_global_position"), topic(ulog, "vehicle_local_position")
    if loc is None:
        return None
    tl = stamp(loc.data)
    v_local = cols(loc.data, ["vx", "vy", "vz"])
    if g is not None:
        t = stamp(g.data)
        lla = cols(g.data, ["lat", "lon", "alt"])
        inside = (t >= tl[0]) & (t <= tl[-1]) & np.isfinite(lla).all(axis=1)
        t, lla = t[inside], lla[inside]
        v = np.column_stack([np.interp(t, tl, v_local[:, k]) for k in range(3)])
        return Series("vehicle_global_position+vehicle_local_position", t, np.hstack([lla, v]))
    data = loc.data
    ok = (data["xy_global"] > 0) & (data["z_global"] > 0) & (data["xy_valid"] > 0)
    if not ok.any():
        return None
    ref = cols(data, ["ref_lat", "ref_lon", "ref_alt"])[ok]
    ned = cols(data, ["x", "y", "z"])[ok]
    lla = np.array([np.hstack(ned_to_geodetic(n, tuple(r))) for n, r in zip(ned, ref, strict=True)])
    return Series("vehicle_local_position", tl[ok], np.hstack([lla, v_local[ok]]))


def attitude(ulog) -> Series | None:
    d = topic(ulog, "vehicle_attitude")
    if d is None or len(d.data["timestamp"]) < 2:
        return None
    return Series(d.name, stamp(d.data), cols(d.data, [f"q[{i}]" for i in range(4)]))


def baro(ulog) -> Series | None:
    """Barometric altitude [m] from vehicle_air_data (PX4's selected, calibrated barometer)."""
    d = topic(ulog, "vehicle_air_data")
    if d is None or "baro_alt_meter" not in d.data or len(d.data["timestamp"]) < 1:
        return None
    return Series(d.name, stamp(d.data), cols(d.data, ["baro_alt_meter"]))


TOPICS = [
    *IMU_TOPICS,
    *GNSS_TOPICS,
    "vehicle_global_position",
    "vehicle_local_position",
    "vehicle_attitude",
    "vehicle_air_data",
]
