"""A north-up map made from survey frames: each placed by its GPS position, track heading and
height, mosaicked into a geo-referenced GeoTIFF the GeoTIFF corpus reader tiles like any map.

Each ground pixel takes the frame whose centre is nearest among those that see it (a Voronoi
mosaic: crisp, no blending across seams). The projection is written here, independently of
the stack's query alignment, so that a convention both got wrong cannot cancel: a nadir
pinhole whose image top looks along the heading (`camera.mounting`), flat ground at the
first fix's level. The raster's CRS is an azimuthal equidistant projection centred on the
clip's origin, so its metres are the clip's north/east (to 2 cm over this flight).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from harness.clip.model import Clip
from harness.errors import ClipError

INSIDE = 0.95  # use only this central share of each frame's width and height (edge blur)


def frame_poses(clip: Clip, frames: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(N,2) north/east [m] from truth, yaw [rad] and height [m] from telemetry, per frame."""
    clip.need("truth", "a survey mosaic")
    if clip.telemetry is None:
        raise ClipError(f"{clip.manifest.get('_path')}: a mosaic needs the heading and height")
    t = clip.frames.t_s[frames]
    tr, tel = clip.truth, clip.telemetry
    ne = np.stack([np.interp(t, tr.t_s, tr.p_ned_m[:, k]) for k in (0, 1)], axis=1)
    q = tel.q_wxyz[np.clip(np.searchsorted(tel.t_s, t), 0, len(tel.t_s) - 1)]
    yaw = 2 * np.arctan2(q[:, 3], q[:, 0])  # level vehicle: q = (cos yaw/2, 0, 0, sin yaw/2)
    height = np.interp(t, tel.t_s, tel.baro_height_m)
    return ne, yaw, height


def ground_to_pixel(
    d_ne: np.ndarray, yaw: float, height: float, fx: float, cx: float, cy: float
) -> tuple[np.ndarray, np.ndarray]:
    """Pixel (u right, v down) where a ground point at north/east offset `d_ne` from the
    vehicle appears, for a level nadir camera whose image top looks along `yaw`."""
    forward = d_ne[..., 0] * np.cos(yaw) + d_ne[..., 1] * np.sin(yaw)
    right = -d_ne[..., 0] * np.sin(yaw) + d_ne[..., 1] * np.cos(yaw)
    return cx + fx * right / height, cy - fx * forward / height


def mosaic(
    clip: Clip, frames: list[int], gsd_m: float, poses: tuple | None = None
) -> tuple[np.ndarray, np.ndarray, tuple]:
    """(H,W,3) uint8 north-up mosaic, (H,W) bool coverage, (north_max, east_min) of its
    top-left corner [m]; `poses` as frame_poses returns them (default: the clip's)."""
    cam = clip.camera
    ne, yaw, height = frame_poses(clip, frames) if poses is None else poses
    reach = float(np.hypot(cam.width, cam.height) / 2 / cam.fx * height.max())
    north_max, east_min = ne[:, 0].max() + reach, ne[:, 1].min() - reach
    rows = int(np.ceil((north_max - (ne[:, 0].min() - reach)) / gsd_m))
    cols = int(np.ceil((ne[:, 1].max() + reach - east_min) / gsd_m))
    image = np.zeros((rows, cols, 3), np.uint8)
    best = np.full((rows, cols), np.inf)
    for k, i in enumerate(frames):
        frame = clip.frames.read(i)
        r0 = max(int((north_max - ne[k, 0] - reach) / gsd_m), 0)
        r1 = min(int((north_max - ne[k, 0] + reach) / gsd_m) + 1, rows)
        c0 = max(int((ne[k, 1] - reach - east_min) / gsd_m), 0)
        c1 = min(int((ne[k, 1] + reach - east_min) / gsd_m) + 1, cols)
        n = north_max - (np.arange(r0, r1) + 0.5) * gsd_m
        e = east_min + (np.arange(c0, c1) + 0.5) * gsd_m
        d = np.stack(np.meshgrid(n - ne[k, 0], e - ne[k, 1], indexing="ij"), axis=-1)
        u, v = ground_to_pixel(d, yaw[k], height[k], cam.fx, cam.cx, cam.cy)
        half_w, half_h = INSIDE * cam.width / 2, INSIDE * cam.height / 2
        seen = (np.abs(u - cam.cx) < half_w) & (np.abs(v - cam.cy) < half_h)
        dist = np.hypot(d[..., 0], d[..., 1])
        win = seen & (dist < best[r0:r1, c0:c1])
        if not win.any():
            continue
        best[r0:r1, c0:c1][win] = dist[win]
        px = np.clip(u[win].astype(int), 0, cam.width - 1)
        py = np.clip(v[win].astype(int), 0, cam.height - 1)
        image[r0:r1, c0:c1][win] = frame[py, px]
    return image, np.isfinite(best), (float(north_max), float(east_min))


def write_mosaic_geotiff(
    clip: Clip, frames: list[int], out: Path, gsd_m: float = 0.1, quality: int = 90
) -> Path:
    """The mosaic of `frames` as a JPEG-compressed GeoTIFF with an internal validity mask."""
    import rasterio
    from rasterio.crs import CRS
    from rasterio.transform import from_origin

    image, covered, (north_max, east_min) = mosaic(clip, frames, gsd_m)
    o = clip.origin
    crs = CRS.from_proj4(f"+proj=aeqd +lat_0={o.lat_deg} +lon_0={o.lon_deg} +datum=WGS84 +units=m")
    profile = {
        "driver": "GTiff",
        "width": image.shape[1],
        "height": image.shape[0],
        "count": 3,
        "dtype": "uint8",
        "crs": crs,
        "transform": from_origin(east_min, north_max, gsd_m, gsd_m),
        "compress": "jpeg",
        "jpeg_quality": quality,
        "photometric": "ycbcr",
        "tiled": True,
        "blockxsize": 256,
        "blockysize": 256,
    }
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(out, "w", **profile) as dst:
        dst.write(np.moveaxis(image, -1, 0))
        dst.write_mask(covered.astype(np.uint8) * 255)
        dst.update_tags(frames=",".join(str(i) for i in frames), gsd_m=str(gsd_m))
    return out
