"""The IMU of a PX4 log: every candidate topic with its rate, and the fastest one.

Candidates: sensor_combined; each vehicle_imu instance (delta angle / velocity over their dt);
each sensor_gyro + sensor_accel pair of one instance (raw rates in the body frame, accel
interpolated onto the gyro's instants). A topic's rate is its median sample rate
(harness.clip.imu_rate).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.clip.imu_rate import median_rate
from harness.clip.ulog_topics import Series, cols, instances, stamp

_ORDER = ("sensor_combined", "vehicle_imu", "sensor_gyro")


@dataclass(frozen=True)
class Imu:
    series: Series  # gyro [rad/s] and specific force [m/s^2], FRD
    rate_hz: float  # median sample rate
    candidates: dict[str, float]  # every candidate topic -> its median rate [Hz]


def _combined(ulog) -> list[Series]:
    out = []
    for d in instances(ulog, "sensor_combined")[:1]:
        gyro = cols(d.data, [f"gyro_rad[{i}]" for i in range(3)])
        accel = cols(d.data, [f"accelerometer_m_s2[{i}]" for i in range(3)])
        out.append(Series(d.name, stamp(d.data), np.hstack([gyro, accel])))
    return out


def _vehicle_imu(ulog) -> list[Series]:
    out = []
    for d in instances(ulog, "vehicle_imu"):
        da = cols(d.data, [f"delta_angle[{i}]" for i in range(3)])
        dv = cols(d.data, [f"delta_velocity[{i}]" for i in range(3)])
        dt_a = np.asarray(d.data["delta_angle_dt"], dtype=np.float64)[:, None] / 1e6
        dt_v = np.asarray(d.data["delta_velocity_dt"], dtype=np.float64)[:, None] / 1e6
        ok = (dt_a[:, 0] > 0) & (dt_v[:, 0] > 0)
        values = np.hstack([da[ok] / dt_a[ok], dv[ok] / dt_v[ok]])
        out.append(Series(f"vehicle_imu[{d.multi_id}]", stamp(d.data)[ok], values))
    return out


def _raw_pairs(ulog) -> list[Series]:
    accels = {d.multi_id: d for d in instances(ulog, "sensor_accel")}
    out = []
    for g in instances(ulog, "sensor_gyro"):
        a = accels.get(g.multi_id)
        if a is None or len(a.data["timestamp"]) < 2:
            continue
        tg, ta = stamp(g.data), stamp(a.data)
        inside = (tg >= ta[0]) & (tg <= ta[-1])
        acc = cols(a.data, ["x", "y", "z"])
        values = np.hstack(
            [
                cols(g.data, ["x", "y", "z"])[inside],
                np.column_stack([np.interp(tg[inside], ta, acc[:, k]) for k in range(3)]),
            ]
        )
        name = f"sensor_gyro[{g.multi_id}]+sensor_accel[{g.multi_id}]"
        out.append(Series(name, tg[inside], values))
    return out


def best_imu(ulog) -> Imu | None:
    """The fastest IMU the log holds (ties: sensor_combined, vehicle_imu, raw pairs); None
    when it holds none with two samples."""
    found = [
        s for s in (*_combined(ulog), *_vehicle_imu(ulog), *_raw_pairs(ulog)) if len(s.t_us) >= 2
    ]
    if not found:
        return None
    rates = {s.topic: median_rate(s.t_us / 1e6) for s in found}

    def rank(s: Series) -> tuple[float, int]:
        kind = next(i for i, k in enumerate(_ORDER) if s.topic.startswith(k))
        return (-rates[s.topic], kind)

    best = min(found, key=rank)
    return Imu(best, rates[best.topic], rates)
