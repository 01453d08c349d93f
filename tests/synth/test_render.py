"""A rendered frame of a level, north-facing pose equals the orthophoto crop under it."""

import numpy as np

from harness.synth.camera import intrinsics, render_frames
from harness.synth.terrain import make_ortho


def test_level_frame_matches_ortho_crop():
    ortho = make_ortho(2, (-400.0, 400.0), (-400.0, 400.0), 0.5)
    cam = intrinsics(120, 120, 60.0)
    alt = 100.0  # ground footprint 115.5 m: 0.96 m per frame pixel, about 2 ortho pixels
    frame = next(
        render_frames([ortho], cam, np.array([[20.0, -30.0, -alt]]), np.array([[1.0, 0, 0, 0]]))
    )
    gsd = alt / cam["fx"]
    # frame pixel (r, c) sees north = 20 - (r + .5 - 60) * gsd, east = -30 + (c + .5 - 60) * gsd
    r, c = np.mgrid[0:120, 0:120] + 0.5 - 60
    rows = np.rint((ortho.n_max_m - (20 - r * gsd)) / 0.5 - 0.5).astype(int)
    cols = np.rint((-30 + c * gsd - ortho.e_min_m) / 0.5 - 0.5).astype(int)
    crop = ortho.image[rows, cols].astype(float)
    diff = np.abs(frame.astype(float) - crop)
    corr = np.corrcoef(frame.astype(float).ravel(), crop.ravel())[0, 1]
    assert corr > 0.9, corr
    assert np.median(diff) < 8


def test_ortho_is_deterministic_and_seed_dependent():
    a = make_ortho(1, (0.0, 100.0), (0.0, 100.0), 0.5).image
    b = make_ortho(1, (0.0, 100.0), (0.0, 100.0), 0.5).image
    c = make_ortho(2, (0.0, 100.0), (0.0, 100.0), 0.5).image
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_tilted_yawed_frame_shows_the_ground_its_pinhole_projection_names():
    """Attitude is in the render: ground points projected by an independent pinhole model."""
    from scipy.spatial.transform import Rotation

    from harness.synth.camera import R_BODY_CAM, sample_bilinear

    ortho = make_ortho(4, (-500.0, 500.0), (-500.0, 500.0), 0.5)
    cam = intrinsics(160, 160, 60.0)
    pos = np.array([30.0, 10.0, -150.0])
    rot = Rotation.from_euler("ZYX", [np.radians(130), np.radians(-6), np.radians(9)])
    frame = next(render_frames([ortho], cam, pos[None], rot.as_quat(scalar_first=True)[None]))
    rng = np.random.default_rng(0)
    ground = np.column_stack([rng.uniform(-40, 60, 400), rng.uniform(-40, 60, 400), np.zeros(400)])
    in_cam = (rot.inv().apply(ground - pos)) @ R_BODY_CAM  # world -> body -> camera
    u = cam["fx"] * in_cam[:, 0] / in_cam[:, 2] + cam["cx"]
    v = cam["fy"] * in_cam[:, 1] / in_cam[:, 2] + cam["cy"]
    ok = (u > 1) & (u < 159) & (v > 1) & (v < 159)
    assert ok.sum() > 100
    seen = frame[v[ok].astype(int), u[ok].astype(int)].astype(float)
    truth = sample_bilinear(ortho, ground[ok, :2]).astype(float)
    assert np.corrcoef(seen.ravel(), truth.ravel())[0, 1] > 0.85
    assert np.median(np.abs(seen - truth)) < 12
