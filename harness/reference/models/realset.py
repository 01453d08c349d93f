"""Real survey frames as training data, split by time and ground from the held-out lines.

A survey's frames are the queries: each training frame turned north-up by its heading and
height (as the stack aligns it), cropped at the map tile's size under the vehicle and at a few
offsets across the track (the frame is wider than a tile). The database is the map: north-up
crops of the GeoTIFF mosaic on a grid. Every crop is labelled with where it lies on the ground.

The split (`RealSplit`): frames inside the held-out window are the evaluation queries (the
zr10-finetuned scenario's segment) and are never trained on; a training sample, query crop or
map crop, is kept only when its centre lies farther than `guard_m` from every held-out frame's
position, so no ground a held-out query shows is trained on either. `check_split` is the guard
that refuses a set breaking either rule.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from harness.clip.model import Clip
from harness.errors import HarnessError
from harness.reference.models.realrecipe import RealSplit
from harness.reference.vpr.align import bilinear, ground_grid, project_ground


class SplitLeak(HarnessError):
    """A training sample shares a frame or ground with the held-out queries."""


@dataclass(frozen=True)
class RealSet:
    """Aligned query crops and map crops, each with its ground position [north, east] m."""

    name: str
    queries: np.ndarray  # (Q, S, S, 3) uint8
    truth_ne_m: np.ndarray  # (Q, 2)
    frames: np.ndarray  # (Q,) the survey frame index each query crop was cut from
    tiles: np.ndarray  # (T, S, S, 3) uint8
    centres_ne_m: np.ndarray  # (T, 2)
    heldout_ne_m: np.ndarray  # (H, 2) positions of the held-out frames (never trained on)
    heldout_frames: np.ndarray  # (H,)


def survey_clip(split: RealSplit, root: Path, cache_dir: Path) -> Clip:
    """The whole survey as the scenarios import it (one cached import serves both)."""
    from harness.clip import ClipRef, Segment, load_clip

    ref = ClipRef.model_validate(
        {
            "recording": {
                "kind": "survey",
                "path": split.images,
                "track": split.track,
                "simulate_imu": True,
            }
        }
    )
    return load_clip(ref, Segment(start_s=0, duration_s=None), cache_dir, root=root)


def frame_positions(clip: Clip) -> np.ndarray:
    """(N, 2) north/east [m] of each frame's GPS position (the labels)."""
    t = clip.frames.t_s
    return np.stack([np.interp(t, clip.truth.t_s, clip.truth.p_ned_m[:, k]) for k in (0, 1)], 1)


def heldout(split: RealSplit, clip: Clip) -> np.ndarray:
    """Indices of the frames inside the held-out window."""
    t = clip.frames.t_s
    return np.flatnonzero((t >= split.heldout_from_s) & (t < split.heldout_to_s))


def far_from(points: np.ndarray, held: np.ndarray, guard_m: float) -> np.ndarray:
    """Booleans: each point lies farther than guard_m from every held-out position."""
    if not len(held) or not len(points):
        return np.ones(len(points), bool)
    d = np.linalg.norm(points[:, None] - held[None], axis=2)
    return d.min(axis=1) > guard_m


def check_split(rs: RealSet, guard_m: float) -> None:
    """Refuse a set where a held-out frame is a training query, or where a training sample's
    centre lies within guard_m of a held-out frame's position."""
    shared = np.intersect1d(rs.frames, rs.heldout_frames)
    if len(shared):
        raise SplitLeak(f"{rs.name}: held-out frames {shared[:5].tolist()} are training queries")
    for what, pts in (("query crop", rs.truth_ne_m), ("map crop", rs.centres_ne_m)):
        ok = far_from(pts, rs.heldout_ne_m, guard_m)
        if not ok.all():
            i = int(np.flatnonzero(~ok)[0])
            d = np.linalg.norm(rs.heldout_ne_m - pts[i], axis=1)
            raise SplitLeak(
                f"{rs.name}: training {what} at {np.round(pts[i], 1).tolist()} m lies "
                f"{d.min():.1f} m from held-out frame {int(rs.heldout_frames[d.argmin()])} "
                f"(guard {guard_m:g} m): move the split or widen the held-out window"
            )


def query_crops(
    split: RealSplit, clip: Clip, frames: np.ndarray, size_m: float, out_px: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """North-up crops of each frame under the vehicle and at offsets across the track:
    (crops, ground position of each crop, frame index of each crop)."""
    from harness.reference.attitude import telemetry_pose

    cam = clip.camera
    intr = {"fx": cam.fx, "fy": cam.fy, "cx": cam.cx, "cy": cam.cy}
    pos = frame_positions(clip)
    grid = ground_grid(size_m, out_px)
    crops, where, source = [], [], []
    for i in frames:
        pose = telemetry_pose(clip, float(clip.frames.t_s[i]))
        if pose is None or pose.height_m < split.min_height_m:
            continue
        q = pose.q_wxyz
        yaw = 2 * np.arctan2(q[3], q[0])  # level vehicle (the survey logs no attitude)
        across = np.array([-np.sin(yaw), np.cos(yaw)])  # to the right of the heading
        frame = clip.frames.read(int(i))
        for off in split.crop_offsets_m:
            d = off * across
            u, v = project_ground(grid + d, intr, cam.r_body_cam, q, pose.height_m)
            crops.append(bilinear(frame, u, v))
            where.append(pos[i] + d)
            source.append(i)
    return np.stack(crops), np.array(where), np.array(source, int)


def map_crops(
    map_path: Path, clip: Clip, size_m: float, out_px: int, stride_m: float
) -> tuple[np.ndarray, np.ndarray]:
    """North-up crops of the map on a `stride_m` grid, kept where the map covers them whole."""
    import rasterio
    from pyproj import Transformer

    with rasterio.open(map_path) as src:
        image = np.moveaxis(src.read(), 0, -1)
        valid = src.dataset_mask() > 0
        inv = ~src.transform
        to_map = Transformer.from_crs("EPSG:4326", src.crs, always_xy=True)
        if not src.crs.is_projected or src.crs.linear_units not in ("metre", "meter"):
            raise HarnessError(f"{map_path}: training crops need a map in metres (a projected CRS)")
        bounds = src.bounds
    # the clip's origin on the map: near it a projected map's metres are north/east
    lat, lon, _ = clip.origin.as_tuple()
    x0, y0 = to_map.transform(lon, lat)
    n_lo, n_hi = bounds.bottom - y0, bounds.top - y0
    e_lo, e_hi = bounds.left - x0, bounds.right - x0
    grid = ground_grid(size_m, out_px)
    crops, where = [], []
    for n in np.arange(n_lo + size_m, n_hi - size_m, stride_m):
        for e in np.arange(e_lo + size_m, e_hi - size_m, stride_m):
            x, y = x0 + e + grid[..., 1], y0 + n + grid[..., 0]
            col, row = inv.a * x + inv.b * y + inv.c, inv.d * x + inv.e * y + inv.f
            r, c = np.floor(row).astype(int), np.floor(col).astype(int)
            inside = (r >= 0) & (c >= 0) & (r < valid.shape[0] - 1) & (c < valid.shape[1] - 1)
            if not inside.all() or not valid[r, c].all():
                continue
            crops.append(bilinear(image, col - 0.5, row - 0.5))
            where.append((n, e))
    return np.stack(crops), np.array(where)


def real_training_set(split: RealSplit, root: Path, cache_dir: Path) -> RealSet:
    """The training side of the split: crops of the training window's frames and of the map,
    none within `guard_m` of a held-out frame (checked before it is returned)."""
    from harness.clip.geotiff import cached_geotiff

    clip = survey_clip(split, root, cache_dir)
    corpus = cached_geotiff(
        root / split.map, clip.origin.as_tuple(), split.zoom, split.tile_px, cache_dir
    )
    size_m, px = corpus.size_m, split.tile_px
    held = heldout(split, clip)
    held_ne = frame_positions(clip)[held]
    t = clip.frames.t_s
    train = np.flatnonzero((t >= split.train_from_s) & (t < split.train_to_s))
    queries, q_ne, source = query_crops(split, clip, train, size_m, px)
    keep = far_from(q_ne, held_ne, split.guard_m)
    tiles, t_ne = map_crops(root / split.map, clip, size_m, px, split.map_stride_m)
    keep_t = far_from(t_ne, held_ne, split.guard_m)
    rs = RealSet(
        f"{Path(split.images).parent.name} frames {split.train_from_s:g}-{split.train_to_s:g} s "
        f"(held out: {split.heldout_from_s:g}-{split.heldout_to_s:g} s, guard {split.guard_m:g} m)",
        queries[keep],
        q_ne[keep],
        source[keep],
        tiles[keep_t],
        t_ne[keep_t],
        held_ne,
        held,
    )
    check_split(rs, split.guard_m)
    return rs


def heldout_queries(split: RealSplit, root: Path, cache_dir: Path):
    """The held-out frames as the zr10-finetuned scenario asks for them (every level frame,
    aligned under the vehicle) against the map's tiles, for `provision test-real`."""
    from harness.clip.geotiff import cached_geotiff
    from harness.reference.models.trainset import GeoSet

    clip = survey_clip(split, root, cache_dir)
    corpus = cached_geotiff(
        root / split.map, clip.origin.as_tuple(), split.zoom, split.tile_px, cache_dir
    )
    centre = replace(split, crop_offsets_m=(0.0,))
    queries, ne, _ = query_crops(centre, clip, heldout(split, clip), corpus.size_m, split.tile_px)
    window = f"{split.heldout_from_s:g}-{split.heldout_to_s:g} s"
    return GeoSet(f"{Path(split.images).parent.name} held out {window}", queries, ne, corpus)
