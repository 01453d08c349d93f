"""Tile corpora cut from the orthophoto: an overlapping local grid and XYZ/Web-Mercator tiles."""

from __future__ import annotations

import numpy as np

from harness.clip.corpus import TileCorpus, make_corpus
from harness.clip.geo import ne_to_tile, tile_to_ne
from harness.synth.camera import pick_level, sample_bilinear
from harness.synth.terrain import Ortho


def local_grid(
    pyramid: list[Ortho], bbox_ne: np.ndarray, size_m: float, stride_m: float, tile_px: int
) -> TileCorpus:
    """Square north-up tiles of `size_m` every `stride_m` over bbox (2,2: min/max of [n, e])."""
    ns = np.arange(bbox_ne[0, 0], bbox_ne[1, 0] + stride_m, stride_m)
    es = np.arange(bbox_ne[0, 1], bbox_ne[1, 1] + stride_m, stride_m)
    level = pick_level(pyramid, size_m / tile_px)
    offs = (np.arange(tile_px) + 0.5) / tile_px * size_m - size_m / 2
    grid = np.stack(np.meshgrid(-offs, offs, indexing="ij"), axis=-1)  # rows go south
    half = size_m / 2
    corners = np.array([[half, -half], [half, half], [-half, half], [-half, -half]])
    ids, feet, tiles = [], [], np.empty((len(ns) * len(es), tile_px, tile_px, 3), np.uint8)
    for i, n in enumerate(ns[::-1]):
        for j, e in enumerate(es):
            centre = np.array([n, e])
            tiles[len(ids)] = sample_bilinear(level, centre + grid)
            ids.append(f"grid/r{i:03d}c{j:03d}")
            feet.append(centre + corners)
    meta = {"stride_m": stride_m, "tile_px": tile_px, "gsd_m": size_m / tile_px}
    return make_corpus("local-grid", ids, np.array(feet), size_m, tiles, meta)


def xyz_tiles(
    pyramid: list[Ortho],
    bbox_ne: np.ndarray,
    zoom: int,
    origin: tuple[float, float, float],
    tile_px: int = 256,
) -> TileCorpus:
    """EPSG:3857 tiles {zoom}/{x}/{y} over bbox, resampled from the orthophoto by exact geodesy."""
    corners = np.array([[bbox_ne[i, 0], bbox_ne[j, 1]] for i in (0, 1) for j in (0, 1)])
    tx, ty = ne_to_tile(zoom, corners, origin)
    xs = range(int(np.floor(tx.min())), int(np.floor(tx.max())) + 1)
    ys = range(int(np.floor(ty.min())), int(np.floor(ty.max())) + 1)
    # exact geodesy on a 9 x 9 lattice per tile, bilinear in between: the map is smooth to mm
    k = 9
    lattice = np.linspace(0, 1, k)
    ids, feet, tiles = [], [], np.empty((len(xs) * len(ys), tile_px, tile_px, 3), np.uint8)
    centres = (np.arange(tile_px) + 0.5) / tile_px * (k - 1)
    i0 = np.minimum(centres.astype(int), k - 2)
    f = (centres - i0)[:, None]
    for y in ys:
        for x in xs:
            gy, gx = np.meshgrid(y + lattice, x + lattice, indexing="ij")
            ne = tile_to_ne(zoom, gx, gy, origin)  # (k, k, 2), rows go south
            rows = ne[i0] * (1 - f[:, :, None]) + ne[i0 + 1] * f[:, :, None]  # (px, k, 2)
            full = rows[:, i0] * (1 - f[None, :, :]) + rows[:, i0 + 1] * f[None, :, :]
            gsd = np.linalg.norm(ne[0, -1] - ne[0, 0]) / tile_px
            tiles[len(ids)] = sample_bilinear(pick_level(pyramid, gsd), full)
            ids.append(f"{zoom}/{x}/{y}")
            feet.append([ne[0, 0], ne[0, -1], ne[-1, -1], ne[-1, 0]])
    feet = np.array(feet)
    size = float(np.linalg.norm(feet[0, 1] - feet[0, 0]))
    meta = {"zoom": zoom, "tile_px": tile_px, "crs": "EPSG:3857", "origin": list(origin)}
    return make_corpus("xyz", ids, feet, size, tiles, meta)
