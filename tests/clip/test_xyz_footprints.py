"""Web-Mercator tiles sit where their footprints say, in the same local frame as the grid tiles."""

import numpy as np

from harness.clip.bundle import read_bundle
from harness.clip.geo import (
    geodetic_to_ned,
    lonlat_to_mercator,
    ne_to_tile,
    ned_to_geodetic,
    tile_to_ne,
)

ORIGIN = (50.11, 36.12, 290.0)


def test_geodesy_round_trip_is_sub_millimetre():
    ned = np.array([[1200.0, -800.0, -300.0], [-50.0, 40.0, 0.0]])
    lat, lon, alt = ned_to_geodetic(ned, ORIGIN)
    assert np.abs(geodetic_to_ned(lat, lon, alt, ORIGIN) - ned).max() < 1e-3


def test_mercator_scale_at_50n_is_about_1_56():
    x0, _y0 = lonlat_to_mercator(50.11, 36.12)
    x1, _y1 = lonlat_to_mercator(50.11, 36.12 + 0.01)
    ground = geodetic_to_ned(50.11, 36.12 + 0.01, 290.0, ORIGIN)[1]
    assert abs((x1 - x0) / ground - 1.5605) < 0.005


def test_xyz_footprints_agree_with_local_grid_within_half_a_metre(short_bundle):
    clip = read_bundle(short_bundle)
    xyz, grid = clip.corpus("xyz"), clip.corpus("local-grid")
    z = xyz.meta["zoom"]
    for tile_id, foot in zip(xyz.ids, xyz.footprints_ne_m, strict=True):
        _, x, y = map(int, tile_id.split("/"))
        tx, ty = ne_to_tile(z, foot, ORIGIN)
        want = np.array([[x, y], [x + 1, y], [x + 1, y + 1], [x, y + 1]], float)
        metres = np.hypot(tx - want[:, 0], ty - want[:, 1]) * xyz.size_m
        assert metres.max() < 0.5, (tile_id, metres)
    # the same ground seen through both corpora: an XYZ tile resampled at a grid tile's pixels
    i = len(grid) // 2
    foot = grid.footprints_ne_m[i]
    j = int(np.argmin(np.linalg.norm(xyz.centres_ne_m - grid.centres_ne_m[i], axis=1)))
    _, x, y = map(int, xyz.ids[j].split("/"))
    s = grid.image(i).shape[0]
    f = (np.arange(s) + 0.5) / s
    ne = foot[0] + f[:, None, None] * (foot[3] - foot[0]) + f[None, :, None] * (foot[1] - foot[0])
    tx, ty = ne_to_tile(z, ne, ORIGIN)
    px, py = (tx - x) * 256, (ty - y) * 256
    inside = (px >= 0) & (px < 255) & (py >= 0) & (py < 255)
    assert inside.mean() > 0.2
    a = xyz.image(j)[py[inside].astype(int), px[inside].astype(int)].astype(float)
    b = grid.image(i)[inside].astype(float)
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.8
    assert np.allclose(tile_to_ne(z, x + 0.5, y + 0.5, ORIGIN), xyz.centres_ne_m[j], atol=0.05)


def test_xyz_folder_reader_matches_the_generated_corpus(short_bundle, tmp_path):
    from PIL import Image

    from harness.clip.xyz import read_xyz_folder

    xyz = read_bundle(short_bundle).corpus("xyz")
    for i, tile_id in enumerate(xyz.ids):
        path = tmp_path / f"{tile_id}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(xyz.image(i)).save(path)
    got = read_xyz_folder(tmp_path, ORIGIN)
    order = [got.ids.index(t) for t in xyz.ids]
    assert np.abs(got.footprints_ne_m[order] - xyz.footprints_ne_m).max() < 1e-3
    assert np.array_equal(got.image(order[0]), xyz.image(0))
