"""Nadir pinhole frames rendered from the orthophoto by the true pose, attitude included."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from scipy.spatial.transform import Rotation

from harness.synth.terrain import Ortho

# camera axes in the body (FRD): image x (right) = body right, image y (down) = body backward,
# optical axis = body down; so the top of the image looks ahead of the vehicle
R_BODY_CAM = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
OUTSIDE_RGB = np.array([128, 128, 128], np.float32)


def intrinsics(width: int, height: int, fov_deg: float) -> dict[str, float]:
    f = (width / 2) / np.tan(np.radians(fov_deg) / 2)
    return {"fx": f, "fy": f, "cx": width / 2, "cy": height / 2, "width": width, "height": height}


def sample_bilinear(ortho: Ortho, ne: np.ndarray) -> np.ndarray:
    """RGB at [north_m, east_m] points (..., 2) -> (..., 3) uint8; grey outside the map."""
    r, c = ortho.rc(ne)
    h, w = ortho.image.shape[:2]
    inside = ((r >= 0) & (c >= 0) & (r <= h - 1) & (c <= w - 1)).ravel()
    r = np.clip(r, 0, h - 1.001).astype(np.float32).ravel()
    c = np.clip(c, 0, w - 1.001).astype(np.float32).ravel()
    r0, c0 = r.astype(np.int64), c.astype(np.int64)
    fr, fc = r - r0, c - c0
    i = r0 * w + c0
    packed = ortho.packed
    corners = (packed[i], packed[i + 1], packed[i + w], packed[i + w + 1])
    weights = ((1 - fr) * (1 - fc), (1 - fr) * fc, fr * (1 - fc), fr * fc)
    out = np.empty((len(i), 3), np.float32)
    for k in range(3):
        shift = np.uint32(8 * k)
        out[:, k] = sum(
            ((q >> shift) & np.uint32(255)) * wt for q, wt in zip(corners, weights, strict=True)
        )
    out[~inside] = OUTSIDE_RGB
    return (out + 0.5).astype(np.uint8).reshape(*np.shape(ne)[:-1], 3)


def pick_level(pyramid: list[Ortho], gsd_m: float) -> Ortho:
    """The coarsest level still at least as sharp as the wanted ground sample distance."""
    fitting = [o for o in pyramid if o.gsd_m <= gsd_m * 1.01]
    return fitting[-1] if fitting else pyramid[0]


def render_frames(
    pyramid: list[Ortho],
    cam: dict[str, float],
    p_ned_m: np.ndarray,
    q_wxyz: np.ndarray,
    r_body_cam: np.ndarray = R_BODY_CAM,
) -> Iterator[np.ndarray]:
    """One H x W x 3 frame per pose; ground is the plane down = 0."""
    w, h = int(cam["width"]), int(cam["height"])
    u, v = np.meshgrid(np.arange(w) + 0.5, np.arange(h) + 0.5)
    rays_cam = np.stack(
        [(u - cam["cx"]) / cam["fx"], (v - cam["cy"]) / cam["fy"], np.ones_like(u)], -1
    )
    rays_body = rays_cam.reshape(-1, 3) @ np.asarray(r_body_cam).T
    r_wb = Rotation.from_quat(q_wxyz, scalar_first=True).as_matrix()
    for p, r in zip(p_ned_m, r_wb, strict=True):
        rays = rays_body @ r.T
        scale = -p[2] / np.maximum(rays[:, 2], 1e-6)  # altitude above the plane / ray's down part
        ne = p[:2] + rays[:, :2] * scale[:, None]
        gsd = -p[2] / cam["fx"] / r_body_cam[2, 2]  # along the optical axis
        yield sample_bilinear(pick_level(pyramid, gsd), ne).reshape(h, w, 3)
