"""GeoTIFF (any CRS) to Web-Mercator tiles with rasterio and morecantile; our mercator maths
checked against pyproj."""

from pathlib import Path

import numpy as np
import pytest

from harness.clip import geo
from harness.clip.geotiff import cached_geotiff, read_geotiff
from harness.errors import ClipError

ORIGIN = (50.11, 36.12, 290.0)
SIDE_M = 2000.0


def write_utm_tiff(path: Path, px_m: float = 2.0) -> tuple[float, float]:
    """A 2 km square in UTM 37N around ORIGIN: red grows east, green grows north."""
    import rasterio
    from pyproj import Transformer
    from rasterio.transform import from_origin

    e0, n0 = Transformer.from_crs("EPSG:4326", "EPSG:32637", always_xy=True).transform(
        ORIGIN[1], ORIGIN[0]
    )
    west, north = e0 - SIDE_M / 2, n0 + SIDE_M / 2
    n = int(SIDE_M / px_m)
    cols = (np.arange(n) + 0.5) / n * 255
    red = np.tile(cols, (n, 1))
    green = np.tile(cols[::-1, None], (1, n))
    data = np.stack([red, green, np.full((n, n), 128.0)]).round().astype(np.uint8)
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=n,
        height=n,
        count=3,
        dtype="uint8",
        crs="EPSG:32637",
        transform=from_origin(west, north, px_m, px_m),
    ) as dst:
        dst.write(data)
    return west, north - SIDE_M


def test_utm_geotiff_becomes_north_up_mercator_tiles_with_the_right_pixels(tmp_path):
    from pyproj import Transformer

    west, south = write_utm_tiff(tmp_path / "utm.tif")
    corpus = read_geotiff(tmp_path / "utm.tif", ORIGIN, zoom=16, tile_px=128)
    assert corpus.kind == "geotiff" and corpus.meta["source_crs"] == "EPSG:32637"
    assert 9 <= len(corpus) <= 20 and corpus.meta["partial_tiles_dropped"] > 0
    ground = 2 * np.pi * geo.A_M / 2**16 * np.cos(np.radians(50.11))
    assert corpus.size_m == pytest.approx(ground, rel=0.01)  # about 392 m
    to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32637", always_xy=True)
    for i in range(len(corpus)):
        c_ned = corpus.centres_ne_m[i]
        lat, lon, _ = geo.ned_to_geodetic(np.array([c_ned[0], c_ned[1], 0.0]), ORIGIN)
        e, n = to_utm.transform(lon, lat)
        want_r = (e - west) / SIDE_M * 255
        want_g = (n - south) / SIDE_M * 255
        got = corpus.image(i)[63:65, 63:65].reshape(-1, 3).mean(axis=0)
        assert got[0] == pytest.approx(want_r, abs=3) and got[1] == pytest.approx(want_g, abs=3)
    nw, ne = corpus.footprints_ne_m[0, 0], corpus.footprints_ne_m[0, 1]
    assert abs(nw[0] - ne[0]) < 0.5  # north-up: the top edge runs east


def test_geographic_crs_and_native_zoom(tmp_path):
    import rasterio
    from rasterio.transform import from_origin

    deg = 0.02
    n = 400
    data = np.random.default_rng(1).integers(0, 255, (1, n, n), dtype=np.uint8)
    path = tmp_path / "ll.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=n,
        height=n,
        count=1,
        dtype="uint8",
        crs="EPSG:4326",
        transform=from_origin(36.11, 50.12, deg / n, deg / n),
    ) as dst:
        dst.write(data)
    corpus = read_geotiff(path, ORIGIN)  # 5e-5 deg = 3.6 m east at 50 N: zoom 15 or 16
    assert corpus.meta["zoom"] in (15, 16) and corpus.image(0).shape == (256, 256, 3)
    again = cached_geotiff(path, ORIGIN, None, 256, tmp_path / "cache")
    assert cached_geotiff(path, ORIGIN, None, 256, tmp_path / "cache").content_hash == (
        again.content_hash
    )


def test_bad_rasters_are_refused_with_the_fix(tmp_path):
    from PIL import Image

    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "plain.tif")
    with pytest.raises(ClipError, match=r"plain.tif: the raster has no CRS"):
        read_geotiff(tmp_path / "plain.tif", ORIGIN, zoom=16)
    (tmp_path / "text.tif").write_text("hello")
    with pytest.raises(ClipError, match=r"text.tif: not a raster GDAL can read"):
        read_geotiff(tmp_path / "text.tif", ORIGIN)
    with pytest.raises(ClipError, match=r"is a directory"):
        read_geotiff(tmp_path, ORIGIN)
    write_utm_tiff(tmp_path / "utm.tif")
    with pytest.raises(ClipError, match=r"no zoom-12 tile lies wholly inside the raster"):
        read_geotiff(tmp_path / "utm.tif", ORIGIN, zoom=12)


def test_our_web_mercator_maths_equals_pyproj_and_morecantile():
    """geo.py's hand-written EPSG:3857 (used by the XYZ folder reader) against the libraries."""
    import morecantile
    from pyproj import Transformer

    tms = morecantile.tms.get("WebMercatorQuad")
    to_ll = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)
    for z, x, y in [(17, 77586, 44290), (3, 1, 6), (12, 2458, 1387)]:
        b = tms.xy_bounds(morecantile.Tile(x, y, z))
        mx, my = geo.tile_pixel_to_mercator(z, np.array([x, x + 1]), np.array([y, y + 1]))
        assert [mx[0], my[0], mx[1], my[1]] == pytest.approx(
            [b.left, b.top, b.right, b.bottom], abs=1e-6
        )
        lat, lon = geo.mercator_to_lonlat(mx, my)
        lon_p, lat_p = to_ll.transform(mx, my)
        assert lat == pytest.approx(lat_p, abs=1e-10) and lon == pytest.approx(lon_p, abs=1e-10)
        ll = tms.bounds(morecantile.Tile(x, y, z))
        got = geo.tile_to_ne(z, np.array([x, x + 1]), np.array([y, y + 1]), ORIGIN)
        want = geo.geodetic_to_ned(
            np.array([ll.top, ll.bottom]), np.array([ll.left, ll.right]), np.full(2, 290.0), ORIGIN
        )[:, :2]
        assert got == pytest.approx(want, abs=1e-6)


def test_without_the_geotiff_extra_a_map_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "morecantile" else real(name)
    )
    with pytest.raises(ClipError, match=r"needs morecantile.*pip install '\.\[geotiff\]'"):
        read_geotiff(tmp_path / "map.tif", (50.0, 30.0, 100.0))
