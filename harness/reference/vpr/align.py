"""Query preprocessing: warp a nadir frame to a north-up patch at the map tiles' scale.

CNN descriptors are not rotation invariant and tiles are north-up, while a nadir frame turns
with the vehicle's heading and its scale follows the altitude. Deployed aerial VPR therefore
aligns the query before embedding: with the attitude from the AHRS and the height above ground
from the barometer (in the stand-in both come from the clip's truth, standing in for that
telemetry), each pixel of a north-up square of `size_m` centred under the vehicle is projected
into the frame and sampled. The result looks like a map tile of the same size, up to an offset.

`QueryAlignment` names the option: "none" embeds the frame as it is, "north-up" warps it.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from scipy.spatial.transform import Rotation

QueryAlignment = Literal["none", "north-up"]
ALIGNMENTS: tuple[str, ...] = ("none", "north-up")
OUTSIDE_GREY = 128.0


def ground_grid(size_m: float, out_px: int) -> np.ndarray:
    """(out_px, out_px, 2) [north, east] offsets of pixel centres; rows go south, as tiles do."""
    offs = (np.arange(out_px) + 0.5) / out_px * size_m - size_m / 2
    return np.stack(np.meshgrid(-offs, offs, indexing="ij"), axis=-1)


def project_ground(
    offsets_ne_m: np.ndarray,
    intrinsics: dict[str, float],
    r_body_cam: np.ndarray,
    q_wxyz: np.ndarray,
    altitude_agl_m: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel (u, v) of ground points at NE offsets from the vehicle (flat ground below)."""
    rays = np.concatenate(
        [offsets_ne_m.reshape(-1, 2), np.full((offsets_ne_m[..., 0].size, 1), altitude_agl_m)],
        axis=1,
    )
    r_wb = Rotation.from_quat(np.asarray(q_wxyz, float), scalar_first=True).as_matrix()
    cam = rays @ r_wb @ np.asarray(r_body_cam)  # world -> body -> camera, row vectors
    z = np.maximum(cam[:, 2], 1e-6)
    u = intrinsics["fx"] * cam[:, 0] / z + intrinsics["cx"]
    v = intrinsics["fy"] * cam[:, 1] / z + intrinsics["cy"]
    shape = offsets_ne_m.shape[:-1]
    return u.reshape(shape), v.reshape(shape)


def bilinear(image: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Sample an H x W x 3 image at pixel coordinates (centres at .5); grey outside."""
    h, w = image.shape[:2]
    x, y = u - 0.5, v - 0.5
    inside = (x >= 0) & (y >= 0) & (x <= w - 1) & (y <= h - 1)
    x = np.clip(x, 0, w - 1.001)
    y = np.clip(y, 0, h - 1.001)
    x0, y0 = x.astype(np.int64), y.astype(np.int64)
    fx, fy = (x - x0)[..., None], (y - y0)[..., None]
    img = image.astype(np.float32)
    out = (
        img[y0, x0] * (1 - fx) * (1 - fy)
        + img[y0, x0 + 1] * fx * (1 - fy)
        + img[y0 + 1, x0] * (1 - fx) * fy
        + img[y0 + 1, x0 + 1] * fx * fy
    )
    out[~inside] = OUTSIDE_GREY
    return (out + 0.5).astype(np.uint8)


def align_north_up(
    frame: np.ndarray,
    intrinsics: dict[str, float],
    r_body_cam: np.ndarray,
    q_wxyz: np.ndarray,
    altitude_agl_m: float,
    size_m: float,
    out_px: int,
) -> np.ndarray:
    """The north-up `size_m` square under the vehicle, `out_px` wide, sampled from the frame.

    `q_wxyz` is the body-to-NED attitude (AHRS), `altitude_agl_m` the height above ground
    (baro); `size_m` and `out_px` are the tile corpus's, so query and tiles share one scale.
    """
    u, v = project_ground(
        ground_grid(size_m, out_px), intrinsics, r_body_cam, q_wxyz, altitude_agl_m
    )
    return bilinear(frame, u, v)
