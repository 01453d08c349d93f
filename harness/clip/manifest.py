"""The bundle manifest: format version, conventions, stream table; checks and frame conversions.

Bundles may declare ENU/FLU/x-first data (a reader's native form); it is converted to the
contract's NED/FRD/w-first on load. Anything else is refused with the key to fix.
"""

from __future__ import annotations

import numpy as np
from scipy.spatial.transform import Rotation

from harness.errors import ClipError

FORMAT = "harness-clip-bundle"
FORMAT_VERSION = 1
CANONICAL = {
    "world_frame": "NED",
    "body_frame": "FRD",
    "quaternion_order": "wxyz",
    "quaternion": "hamilton-body-to-world",
    "time_base": "s-from-clip-start",
    "imu_accel": "specific-force",
    "units": "SI (m, s, rad)",
    "gravity_m_s2": 9.81,
}
ALLOWED = {
    "world_frame": ("NED", "ENU"),
    "body_frame": ("FRD", "FLU"),
    "quaternion_order": ("wxyz", "xyzw"),
    "quaternion": ("hamilton-body-to-world",),
    "time_base": ("s-from-clip-start",),
    "imu_accel": ("specific-force",),
    "units": ("SI (m, s, rad)",),
}
IMU_COLUMNS = [
    "t_s",
    "gyro_x_rad_s",
    "gyro_y_rad_s",
    "gyro_z_rad_s",
    "accel_x_m_s2",
    "accel_y_m_s2",
    "accel_z_m_s2",
]
TRUTH_COLUMNS = [
    "t_s",
    "p_n_m",
    "p_e_m",
    "p_d_m",
    "v_n_m_s",
    "v_e_m_s",
    "v_d_m_s",
    "q_w",
    "q_x",
    "q_y",
    "q_z",
]
FRAME_COLUMNS = ["t_s"]
# The flight controller's telemetry: AHRS attitude (body -> world, in the declared quaternion
# order and frames) and barometric height [m, positive up] above the origin's altitude.
TELEMETRY_COLUMNS = ["t_s", "q_w", "q_x", "q_y", "q_z", "baro_height_m"]

_ENU_TO_NED = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, -1.0]])
_FLU_TO_FRD = np.diag([1.0, -1.0, -1.0])


def check_header(manifest: dict, where: str) -> dict:
    """Return the conventions block after checking format and every convention key."""
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise ClipError(
            f"{where}: format {manifest.get('format')!r} "
            f"version {manifest.get('format_version')!r} "
            f"is not {FORMAT!r} version {FORMAT_VERSION}; re-make the bundle "
            "with `harness clip make` "
            "or a reader"
        )
    conv = manifest.get("conventions")
    if not isinstance(conv, dict):
        raise ClipError(f"{where}: no 'conventions' block; add one as in docs/clip.md")
    for key, allowed in ALLOWED.items():
        if conv.get(key) not in allowed:
            raise ClipError(
                f"{where}: conventions.{key} is {conv.get(key)!r}; this harness reads one of "
                f"{', '.join(allowed)}: fix the manifest if the data really is one of those, "
                "or convert the data first"
            )
    g = conv.get("gravity_m_s2")
    if not isinstance(g, int | float) or not 9.7 < g < 9.9:
        raise ClipError(
            f"{where}: conventions.gravity_m_s2 is {g!r}; give the value used, e.g. 9.81"
        )
    return conv


def to_canonical_vectors(vec: np.ndarray, conv: dict, world: bool) -> np.ndarray:
    """World (position, velocity) or body (gyro, accel) vectors into NED / FRD."""
    if world and conv["world_frame"] == "ENU":
        return vec @ _ENU_TO_NED.T
    if not world and conv["body_frame"] == "FLU":
        return vec @ _FLU_TO_FRD.T
    return vec


def to_canonical_quat(q: np.ndarray, conv: dict) -> np.ndarray:
    """Body->world quaternions in the declared order and frames into w-first FRD->NED."""
    if conv["quaternion_order"] == "xyzw":
        q = q[:, [3, 0, 1, 2]]
    if conv["world_frame"] == "NED" and conv["body_frame"] == "FRD":
        return q
    ok = np.all(np.isfinite(q), axis=1)
    out = np.full_like(q, np.nan)
    if ok.any():
        r = Rotation.from_quat(q[ok], scalar_first=True).as_matrix()
        if conv["world_frame"] == "ENU":
            r = _ENU_TO_NED @ r
        if conv["body_frame"] == "FLU":
            r = r @ _FLU_TO_FRD
        out[ok] = Rotation.from_matrix(r).as_quat(scalar_first=True)
    return out


def check_accel_sign(accel: np.ndarray, where: str) -> None:
    """An FRD accelerometer reads about -g on z; +g means a mislabelled body frame."""
    if len(accel) < 50:
        return
    mean_z = float(np.median(accel[:, 2]))
    if mean_z > 4.0:
        raise ClipError(
            f"{where}: median accel z is {mean_z:+.2f} m/s^2 but the conventions "
            "say FRD (expect about "
            "-9.81); the data looks FLU/ENU: set conventions.body_frame to FLU or fix the reader"
        )


def new_manifest(
    name: str,
    origin: tuple[float, float, float],
    duration_s: float,
    source: dict,
    camera: dict | None = None,
    licence: str = "as the source recording",
) -> dict:
    """The manifest skeleton readers and the generator fill in (write_bundle adds streams)."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "name": name,
        "origin": {
            "lat_deg": float(origin[0]),
            "lon_deg": float(origin[1]),
            "alt_m": float(origin[2]),
        },
        "duration_s": float(duration_s),
        "conventions": dict(CANONICAL),
        "camera": camera,
        "streams": {},
        "corpus": {},
        "licence": licence,
        "provenance": source,
    }


def nadir_camera(width: int, height: int, hfov_deg: float) -> dict:
    """Pinhole intrinsics for a nadir camera whose image top looks forward (body x)."""
    f = (width / 2) / np.tan(np.radians(hfov_deg) / 2)
    return {
        "model": "pinhole",
        "fx": f,
        "fy": f,
        "cx": width / 2,
        "cy": height / 2,
        "width": width,
        "height": height,
        "fov_deg": hfov_deg,
        "mounting": {
            "r_body_cam": [[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]],
            "lever_arm_m": [0.0, 0.0, 0.0],
            "description": "nadir; image top looks forward along body x",
        },
    }
