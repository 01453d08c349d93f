"""The survey reader (images + GPS track) on a real flight, checked against independent oracles:
pyproj for coordinates and directions, the JPEG's own bytes for EXIF times, scipy for the
attitude convention, known answers for the image-motion measurements."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from harness.clip.bundle import read_bundle
from harness.clip.survey import import_survey, yaw_quaternions
from harness.clip.survey_motion import PairMotion, estimate_offset, pair_motion
from harness.clip.survey_track import camera_clock, exif_time, list_images, shot_numbers
from harness.errors import ClipError

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "real-imagery" / "zr10-tanay"
IMAGES, TRACK = FIXTURE / "images", FIXTURE / "gps.csv"
RAW_DATE = re.compile(rb"(\d{4}):(\d\d):(\d\d) (\d\d):(\d\d):(\d\d)\x00")


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return import_survey(IMAGES, TRACK, tmp_path_factory.mktemp("survey") / "bundle")


def _gps():
    return np.genfromtxt(TRACK, delimiter=",", names=True)


def test_positions_agree_with_pyproj(bundle) -> None:
    from pyproj import Transformer

    gps, clip = _gps(), read_bundle(bundle)
    o = clip.origin
    enu = Transformer.from_pipeline(
        f"+proj=pipeline +step +proj=cart +ellps=WGS84 +step +proj=topocentric "
        f"+ellps=WGS84 +lat_0={o.lat_deg} +lon_0={o.lon_deg} +h_0={o.alt_m}"
    )
    e, n, u = enu.transform(gps["lon"], gps["lat"], gps["alt_msl"])
    _, first = np.unique(gps["utc_usec"], return_index=True)
    expect = np.column_stack([n, e, -u])[first]
    assert clip.truth.p_ned_m.shape == expect.shape
    assert np.abs(clip.truth.p_ned_m - expect).max() < 0.01  # metres


def test_exif_times_are_the_stamps_in_the_jpeg_bytes() -> None:
    import datetime as dt

    for path in list_images(IMAGES):
        found = RAW_DATE.search(path.read_bytes()[:65536])
        stamp = dt.datetime(*map(int, found.groups()), tzinfo=dt.UTC).timestamp()
        assert exif_time(path) == stamp, path.name


def test_camera_clock_recovers_the_timer_behind_whole_second_stamps() -> None:
    paths = list_images(IMAGES)[2:]  # the first two were shot before the clock was set
    stamps = np.array([exif_time(p) for p in paths])
    clock = camera_clock(shot_numbers(paths), stamps)
    assert clock.method == "exif-whole-seconds+regular-period"
    assert clock.period_s == pytest.approx(3.0, abs=0.005)
    assert np.mean(np.floor(clock.t_s) == stamps) >= 0.95
    assert np.all(np.abs(clock.t_s - stamps - 0.5) <= 1.0)  # never off its stamped second


def test_manifest_keeps_licence_provenance_and_the_estimates(bundle) -> None:
    m = json.loads((bundle / "manifest.json").read_text())
    p = m["provenance"]
    assert m["licence"].startswith("The MIT License")
    assert set(p["images_dropped"]) == {"IMG_0001.jpg", "IMG_0002.jpg"}
    assert "NO ATTITUDE LOGGED" in p["telemetry_attitude"]
    off = p["frame_offset"]
    assert 1.0 < off["offset_s"] < 2.6 and 0 < off["sigma_s"] < 0.6
    assert off["interval_95_s"][0] <= off["offset_s"] <= off["interval_95_s"][1]
    assert 44 < p["camera_scale"]["measured_hfov_deg"] < 56  # a 16:9 gimbal camera, not 60/82
    # GNSS 1.5 m, 0.3 s at 4 m/s and 3 deg at 70 m per axis, as a 2-D 95 % radius
    assert 9.0 < m["truth_uncertainty"]["horizontal_95_m"] < 11.5
    assert m["streams"]["imu"] is None and m["camera"]["width"] == 640


def test_heading_is_the_track_direction_pyproj_measures(bundle) -> None:
    from pyproj import Geod
    from scipy.spatial.transform import Rotation

    clip = read_bundle(bundle)
    tel, gps = clip.telemetry, _gps()
    t = (gps["utc_usec"] - gps["utc_usec"][0]) / 1e6
    k = np.searchsorted(t, np.arange(40.0, 560.0, 2.0))
    az, _, dist = Geod(ellps="WGS84").inv(
        gps["lon"][k - 12], gps["lat"][k - 12], gps["lon"][k + 12], gps["lat"][k + 12]
    )
    moving = dist > 10.0
    q = tel.q_wxyz[np.searchsorted(tel.t_s, t[k])][moving]
    forward = Rotation.from_quat(q, scalar_first=True).apply([1.0, 0.0, 0.0])  # body x in NED
    heading = np.degrees(np.arctan2(forward[:, 1], forward[:, 0]))
    diff = (heading - az[moving] + 180.0) % 360.0 - 180.0
    assert moving.sum() > 100 and np.median(np.abs(diff)) < 3.0


def test_yaw_quaternion_turns_the_nose_east_at_90_degrees() -> None:
    from scipy.spatial.transform import Rotation

    nose = Rotation.from_quat(yaw_quaternions(np.array([90.0])), scalar_first=True).apply([1, 0, 0])
    assert np.allclose(nose, [[0.0, 1.0, 0.0]], atol=1e-12)


def _grey(name: str) -> np.ndarray:
    from PIL import Image

    with Image.open(IMAGES / name) as im:
        return np.asarray(im.convert("L"), dtype=np.float32)


def test_pair_motion_measures_a_known_zoom_and_shift() -> None:
    from scipy import ndimage

    a = _grey("IMG_0060.jpg")
    centre = (np.array(a.shape) - 1) / 2
    zoomed = ndimage.affine_transform(a, np.eye(2) / 1.25, offset=centre - centre / 1.25, order=1)
    shifted = np.roll(a, (-20, 12), axis=(0, 1))  # content 12 px right, 20 px up
    motion = pair_motion([a, zoomed])
    assert motion.zoom[0] == pytest.approx(1.25, rel=0.02)  # content 1.25 x larger
    assert abs(motion.rotation_deg[0]) < 0.5
    assert np.allclose(pair_motion([a, shifted]).shift_px[0], [12, -20], atol=0.5)


def test_offset_estimator_recovers_a_known_offset() -> None:
    track_t = np.arange(0.0, 120.0, 0.125)
    height = np.clip((track_t - 10.0) * 3.0, 0.0, 70.0)  # climb at 3 m/s, then level
    t_cam = np.arange(5.0, 60.0, 3.0)
    true_offset = 1.3
    h = np.interp(t_cam + true_offset, track_t, height)
    with np.errstate(divide="ignore", invalid="ignore"):
        zoom = np.nan_to_num(h[:-1] / h[1:], nan=1.0, posinf=1.0)
    noise = np.random.default_rng(1).normal(0, 0.005, len(zoom))
    n = len(zoom)
    motion = PairMotion(
        np.zeros((n, 2)), np.zeros(n), zoom * np.exp(noise), np.zeros(n), np.full(n, 30.0)
    )
    est = estimate_offset(motion, t_cam, track_t, height)
    assert est.offset_s == pytest.approx(true_offset, abs=0.1)
    assert est.interval_95_s[0] <= true_offset <= est.interval_95_s[1]
    level = PairMotion(np.zeros((n, 2)), np.zeros(n), np.ones(n), np.zeros(n), np.full(n, 30.0))
    with pytest.raises(ClipError, match="climb or descent"):
        estimate_offset(level, t_cam, track_t, height)


def test_bad_inputs_are_named(tmp_path) -> None:
    from PIL import Image

    bad = tmp_path / "track.csv"
    bad.write_text("utc_usec,lat,lon,alt_msl\n1,14.5,121.3,300\n2,x,121.3,300\n3,14.5,121.3,300\n")
    with pytest.raises(ClipError, match=r"track.csv:3: not a number"):
        import_survey(IMAGES, bad, tmp_path / "out")
    bad.write_text("time,lat,lon\n1,14.5,121.3\n2,14.5,121.3\n3,14.5,121.3\n")
    with pytest.raises(ClipError, match="none of the columns utc_usec"):
        import_survey(IMAGES, bad, tmp_path / "out")
    folder = tmp_path / "plain"
    folder.mkdir()
    for i in range(3):
        Image.new("RGB", (320, 180)).save(folder / f"IMG_{i}.jpg")
    with pytest.raises(ClipError, match="0 images have an EXIF time inside the track"):
        import_survey(folder, TRACK, tmp_path / "out")
    with pytest.raises(ClipError, match="not a folder of images"):
        import_survey(TRACK, TRACK, tmp_path / "out")


def test_map_crs_metres_are_the_clips_north_east(bundle) -> None:
    """The mosaic's CRS (azimuthal equidistant on the origin), by pyproj, against the clip's
    own NED of each GPS fix: the map's metres are the clip's."""
    import rasterio
    from pyproj import Transformer

    gps, clip = _gps(), read_bundle(bundle)
    with rasterio.open(FIXTURE / "map.tif") as src:
        crs = src.crs
        assert src.dataset_mask().mean() > 0.3  # a validity mask, not the whole rectangle
    to_map = Transformer.from_crs("EPSG:4326", crs.to_wkt(), always_xy=True)
    e, n = to_map.transform(gps["lon"], gps["lat"])
    _, first = np.unique(gps["utc_usec"], return_index=True)
    # the bundle's truth is its smoothed track when simulated; the raw fixes are compared here
    from harness.clip.geo import geodetic_to_ned

    ned = geodetic_to_ned(gps["lat"], gps["lon"], gps["alt_msl"], clip.origin.as_tuple())
    assert np.abs(np.column_stack([n, e])[first] - ned[first, :2]).max() < 0.05  # metres


def test_map_and_queries_share_no_image() -> None:
    split = json.loads((FIXTURE / "split.json").read_text())
    in_folder = {p.name for p in list_images(IMAGES)}
    assert in_folder == set(split["query_images"])
    assert not in_folder & set(split["map_images"]) and len(split["map_images"]) > 50


def test_mosaic_puts_north_left_of_an_eastbound_frame(bundle) -> None:
    """One frame placed as if flying east: the ground 8 m north of it must show the frame's
    pixels left of its centre (the image top looks along the heading) at f * 8 m / height,
    and the ground 8 m south the pixels right of it."""
    from harness.clip.survey_mosaic import frame_poses, mosaic

    clip = read_bundle(bundle)
    image = clip.frames.read(60).astype(float).mean(axis=-1)
    ne, _, height = frame_poses(clip, [60])
    placed, covered, (north_max, east_min) = mosaic(
        clip, [60], 0.1, (ne, np.array([np.pi / 2]), height)
    )
    grey = placed.astype(float).mean(axis=-1)
    cam, col = clip.camera, int((ne[0, 1] - east_min) / 0.1)
    step = cam.fx * 8.0 / height[0]

    def ncc(a, b):  # of the two patches smoothed over 2 px: resampling differs sub-pixel
        from scipy.ndimage import gaussian_filter

        a, b = gaussian_filter(a, 2.0), gaussian_filter(b, 2.0)
        a, b = a - a.mean(), b - b.mean()
        return float((a * b).sum() / np.sqrt((a * a).sum() * (b * b).sum()))

    def ground(north_m):  # 41 x 41 ground pixels (4 m) centred north_m north of the frame
        row = int((north_max - (ne[0, 0] + north_m)) / 0.1)
        assert covered[row, col]
        return grey[row - 20 : row + 21, col - 20 : col + 21]

    def pixels(u):  # the frame's pixels there: 4 m at f / height px per metre, turned north-up
        half = 2.0 * cam.fx / height[0]
        v0, v1, u0, u1 = (round(x) for x in (cam.cy - half, cam.cy + half, u - half, u + half))
        from PIL import Image

        patch = Image.fromarray(image[v0:v1, u0:u1].astype(np.uint8)).resize((41, 41))
        return np.rot90(np.asarray(patch, float), k=-1)  # east-bound: image left = north

    left, right = pixels(cam.cx - step), pixels(cam.cx + step)
    assert ncc(ground(8.0), left) > 0.8 > ncc(ground(8.0), right)
    assert ncc(ground(-8.0), right) > 0.8 > ncc(ground(-8.0), left)


def test_import_survey_command_with_given_offset_and_fov(tmp_path, capsys) -> None:
    from harness.commands.main import main

    out = tmp_path / "b"
    args = ["clip", "import-survey", str(IMAGES), str(TRACK), "-o", str(out)]
    given = ["--frame-offset-s", "1.5", "--frame-offset-sigma-s", "0.5", "--hfov-deg", "50"]
    assert main([*args, *given, "--simulate-imu"]) == 0
    m = json.loads((out / "manifest.json").read_text())
    assert m["provenance"]["frame_offset"] == {"offset_s": 1.5, "sigma_s": 0.5, "method": "given"}
    assert m["camera"]["fov_deg"] == 50 and m["imu_source"] == "simulated-from-track"
    assert main(["clip", "inspect", str(out)]) == 0
    assert "stream    imu" in capsys.readouterr().out
    assert main(["clip", "import-survey", str(TRACK), str(TRACK), "-o", str(out)]) == 1
    assert "not a folder of images" in capsys.readouterr().err


def test_a_jpeg_missing_its_last_bytes_is_decoded_and_named(tmp_path) -> None:
    """As 20 of the flight's originals: decoded as far as it goes, named, the global
    Pillow setting left as it was."""
    from PIL import ImageFile

    from harness.clip.survey import _frames

    cut = tmp_path / "IMG_0060.jpg"
    cut.write_bytes((IMAGES / "IMG_0060.jpg").read_bytes()[:-60])
    whole = IMAGES / "IMG_0061.jpg"
    frames, truncated = _frames([whole, cut], 320)
    assert truncated == ["IMG_0060.jpg"] and [f.shape for f in frames] == [(180, 320, 3)] * 2
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
