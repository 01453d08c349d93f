"""Reader: a geo-referenced raster (GeoTIFF, any CRS) into a tile corpus of Web-Mercator XYZ tiles.

The tile grid is morecantile's WebMercatorQuad; each tile is warped from the raster's own CRS by
rasterio (GDAL) with bilinear resampling, so nothing here re-implements a projection. Only
tiles the raster covers completely are kept (the rest are counted in the corpus meta). Tiles
are north-up; footprints are the tile corners in the clip's local NED frame.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np

from harness.clip.corpus import TileCorpus, make_corpus, read_corpus, write_corpus
from harness.clip.geo import geodetic_to_ned
from harness.errors import ClipError

log = logging.getLogger(__name__)
MIN_COVER = 1.0  # a tile is kept only when the raster covers every one of its pixels


def _geotiff_extra(path: Path) -> None:
    """GDAL's readers come with the `geotiff` extra: without it a map is a config-error that
    says how to install it, never a traceback."""
    import importlib.util

    missing = [m for m in ("rasterio", "morecantile") if importlib.util.find_spec(m) is None]
    if missing:
        raise ClipError(
            f"{path}: reading a GeoTIFF map needs {' and '.join(missing)}, which come with the "
            "geotiff extra: pip install '.[geotiff]' (scripts/bootstrap installs it)"
        )


def _open(path: Path):
    _geotiff_extra(path)
    import rasterio
    from rasterio.errors import RasterioIOError

    if path.is_dir():
        raise ClipError(
            f"{path}: is a directory; give the GeoTIFF file (an XYZ folder is kind xyz)"
        )
    try:
        src = rasterio.open(path)
    except RasterioIOError as exc:
        raise ClipError(f"{path}: not a raster GDAL can read ({exc}); give a GeoTIFF") from None
    if src.crs is None:
        src.close()
        raise ClipError(
            f"{path}: the raster has no CRS (not geo-referenced); add one, e.g. with "
            "`gdal_edit.py -a_srs EPSG:XXXX`, or give a GeoTIFF"
        )
    return src


def native_zoom(src, tms) -> int:
    """The WebMercatorQuad zoom whose pixel size is closest to the raster's at its centre."""
    from pyproj import Transformer

    to_merc = Transformer.from_crs(src.crs, "EPSG:3857", always_xy=True)
    cx, cy = src.width / 2, src.height / 2
    x0, y0 = src.transform * (cx, cy)
    x1, y1 = src.transform * (cx + 1, cy)
    (mx0, mx1), (my0, my1) = to_merc.transform([x0, x1], [y0, y1])
    return int(tms.zoom_for_res(float(np.hypot(mx1 - mx0, my1 - my0))))


def _to_uint8(data: np.ndarray, src_dtype: str) -> np.ndarray:
    if src_dtype == "uint8":
        return data.astype(np.uint8)
    lo, hi = np.percentile(data, [1, 99])
    return np.clip((data - lo) / max(hi - lo, 1e-9) * 255, 0, 255).astype(np.uint8)


def read_geotiff(
    path: Path, origin: tuple[float, float, float], zoom: int | None = None, tile_px: int = 256
) -> TileCorpus:
    """Every WebMercatorQuad tile at `zoom` (default: the raster's native zoom) that the raster
    covers, warped to `tile_px` pixels, with footprints in the origin's NED frame."""
    _geotiff_extra(Path(path))
    import morecantile
    from rasterio.enums import Resampling
    from rasterio.transform import from_bounds
    from rasterio.warp import reproject, transform_bounds

    path = Path(path)
    tms = morecantile.tms.get("WebMercatorQuad")
    with _open(path) as src:
        zoom = native_zoom(src, tms) if zoom is None else zoom
        west, south, east, north = transform_bounds(src.crs, "EPSG:4326", *src.bounds)
        bands = [1, 1, 1] if src.count < 3 else [1, 2, 3]
        mask = src.dataset_mask()
        ids, feet, images, partial = [], [], [], 0
        for tile in tms.tiles(west, south, east, north, [zoom]):
            xy = tms.xy_bounds(tile)
            dst_t = from_bounds(xy.left, xy.bottom, xy.right, xy.top, tile_px, tile_px)
            cover = np.zeros((tile_px, tile_px), np.uint8)
            reproject(
                mask,
                cover,
                src_transform=src.transform,
                src_crs=src.crs,
                dst_transform=dst_t,
                dst_crs="EPSG:3857",
                resampling=Resampling.nearest,
            )
            if (cover > 0).mean() < MIN_COVER:
                partial += 1
                continue
            rgb = np.zeros((3, tile_px, tile_px), np.float64)
            for k, b in enumerate(bands):
                reproject(
                    src.read(b).astype(np.float64),
                    rgb[k],
                    src_transform=src.transform,
                    src_crs=src.crs,
                    dst_transform=dst_t,
                    dst_crs="EPSG:3857",
                    resampling=Resampling.bilinear,
                )
            images.append(np.moveaxis(_to_uint8(rgb, src.dtypes[0]), 0, -1))
            ll = tms.bounds(tile)
            lat = np.array([ll.top, ll.top, ll.bottom, ll.bottom])
            lon = np.array([ll.left, ll.right, ll.right, ll.left])
            feet.append(geodetic_to_ned(lat, lon, np.full(4, origin[2]), origin)[:, :2])
            ids.append(f"{tile.z}/{tile.x}/{tile.y}")
        crs = src.crs.to_string()
    if not ids:
        raise ClipError(
            f"{path}: no zoom-{zoom} tile lies wholly inside the raster ({partial} partly); "
            "choose a higher zoom or a larger raster"
        )
    feet_a = np.array(feet)
    meta = {
        "zoom": zoom,
        "tile_px": tile_px,
        "tms": "WebMercatorQuad",
        "source_crs": crs,
        "source": path.name,
        "partial_tiles_dropped": partial,
        "origin": list(origin),
    }
    size = float(np.linalg.norm(feet_a[0, 1] - feet_a[0, 0]))
    return make_corpus("geotiff", ids, feet_a, size, np.stack(images), meta)


def cached_geotiff(
    path: Path,
    origin: tuple[float, float, float],
    zoom: int | None,
    tile_px: int,
    cache_dir: Path,
) -> TileCorpus:
    """read_geotiff, remembered under cache_dir by the file's digest and the parameters."""
    from harness.digest import file_digest

    key = json.dumps([file_digest(path, cache_dir), list(origin), zoom, tile_px])
    folder = cache_dir / "corpora" / hashlib.sha256(key.encode()).hexdigest()[:24]
    if (folder / "corpus.json").exists():
        return read_corpus(folder)
    from harness.build_times import timed

    with timed("corpus", f"{path.name} zoom {zoom}"):
        corpus = read_geotiff(path, origin, zoom, tile_px)
        write_corpus(folder, corpus)
    return corpus
