"""Conventions on real imagery: a real frame turned north-up by its recorded heading, at the
scale its height gives, must retrieve the map tile at its GPS position; with the yaw sign
flipped, the image upside down or the scale wrong it must not.

The stand-in is made by the same hands as the stack, so a convention both share (the yaw's
sign, image row order, metres per pixel) cannot fail there. Here every link is real or
independent: the survey reader's heading (the GPS track's course) and height, the camera's
measured focal length, the map mosaicked from the flight's other lines (flown the opposite
way) by the clip layer's own projection, the GeoTIFF reader's Web-Mercator tiles, and the
stack's own query alignment (`align_north_up` on the `telemetry_pose` it reads). Retrieval is
by normalised cross-correlation of each tile inside the aligned query, not by a network, so a
failure names a convention, not a model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("morecantile", reason="the map is a GeoTIFF: pip install '.[geotiff]'")

from harness.clip import ClipRef, Segment, load_clip
from harness.clip.geotiff import cached_geotiff

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = Path("fixtures/real-imagery/zr10-tanay")
RADIUS_M = 15.0  # as the real-imagery scenarios (18.5 m tiles)
QUERIES = 24
MIN_RIGHT, MAX_WRONG = 0.4, 0.2  # measured: 0.50 right, 0.04-0.08 with each mistake


@pytest.fixture(scope="module")
def survey():
    ref = ClipRef.model_validate(
        {
            "recording": {
                "kind": "survey",
                "path": FIXTURE / "images",
                "track": FIXTURE / "gps.csv",
                "simulate_imu": True,  # as the scenarios: one cached import serves all
            }
        }
    )
    cache = ROOT / ".cache"
    clip = load_clip(ref, Segment(start_s=40, duration_s=530), cache, root=ROOT)
    corpus = cached_geotiff(ROOT / FIXTURE / "map.tif", clip.origin.as_tuple(), 21, 128, cache)
    return clip, corpus


def _queries(clip, corpus) -> list[tuple[int, np.ndarray]]:
    """Level frames with a heading whose GPS position lies on the map, evenly spread."""
    from harness.reference.attitude import telemetry_pose

    found = []
    for i, t in enumerate(clip.frames.t_s):
        pose = telemetry_pose(clip, float(t))
        truth = np.array([np.interp(t, clip.truth.t_s, clip.truth.p_ned_m[:, k]) for k in (0, 1)])
        near = np.linalg.norm(corpus.centres_ne_m - truth, axis=1).min()
        if pose is not None and pose.height_m > 60 and near < corpus.size_m / 2:
            found.append((i, truth))
    step = max(1, len(found) // QUERIES)
    return found[::step][:QUERIES]


class TileMatcher:
    """Best normalised cross-correlation of each tile anywhere inside a query twice its size."""

    def __init__(self, corpus) -> None:
        from scipy import fft

        self.fft = fft
        tiles = np.stack([corpus.image(i) for i in range(len(corpus))]).astype(np.float64)
        grey = tiles.mean(axis=-1)
        grey -= grey.mean(axis=(1, 2), keepdims=True)
        grey /= np.linalg.norm(grey, axis=(1, 2), keepdims=True) + 1e-9
        self.t = grey.shape[1]
        self.shape = (3 * self.t, 3 * self.t)
        self.spectra = np.conj(fft.rfft2(grey, s=self.shape))

    def scores(self, query: np.ndarray) -> np.ndarray:
        q = query.astype(np.float64).mean(axis=-1)
        n = self.t
        valid = q.shape[0] - n + 1
        num = self.fft.irfft2(self.fft.rfft2(q, s=self.shape)[None] * self.spectra, s=self.shape)
        num = num[:, :valid, :valid]
        sums = [np.pad(np.cumsum(np.cumsum(x, 0), 1), ((1, 0), (1, 0))) for x in (q, q * q)]
        s1, s2 = (s[n:, n:] - s[:-n, n:] - s[n:, :-n] + s[:-n, :-n] for s in sums)
        spread = np.sqrt(np.maximum(s2 - s1**2 / (n * n), 1e-6))
        return (num / spread).max(axis=(1, 2))


def _recall(survey, matcher, mistake: str) -> float:
    """recall@1 within RADIUS_M of frames aligned by the stack with one `mistake` made."""
    from scipy.spatial.transform import Rotation

    from harness.reference.attitude import telemetry_pose
    from harness.reference.vpr.align import align_north_up

    clip, corpus = survey
    cam = clip.camera
    intrinsics = {"fx": cam.fx, "fy": cam.fy, "cx": cam.cx, "cy": cam.cy}
    hits = []
    for i, truth in _queries(clip, corpus):
        pose = telemetry_pose(clip, float(clip.frames.t_s[i]))
        q, height, frame = pose.q_wxyz, pose.height_m, clip.frames.read(i)
        if mistake == "yaw sign flipped":
            yaw, pitch, roll = Rotation.from_quat(q, scalar_first=True).as_euler("ZYX")
            q = Rotation.from_euler("ZYX", [-yaw, pitch, roll]).as_quat(scalar_first=True)
        elif mistake == "image rows reversed":
            frame = frame[::-1]
        elif mistake == "scale 1.5x (metres per pixel)":
            height *= 1.5
        query = align_north_up(
            frame, intrinsics, cam.r_body_cam, q, height, 2 * corpus.size_m, 2 * matcher.t
        )
        best = int(np.argmax(matcher.scores(query)))
        hits.append(np.linalg.norm(corpus.centres_ne_m[best] - truth) <= RADIUS_M)
    return float(np.mean(hits))


@pytest.fixture(scope="module")
def right(survey):
    matcher = TileMatcher(survey[1])
    recall = _recall(survey, matcher, "none")
    assert recall >= MIN_RIGHT, (
        f"real frames turned north-up by their recorded heading retrieve the tile at their GPS "
        f"position only {recall:.2f} of the time (< {MIN_RIGHT}): a yaw sign, image row order "
        "or metres-per-pixel convention is wrong between the survey reader, the map and the "
        "stack's query alignment"
    )
    return matcher, recall


def test_frames_aligned_by_their_heading_retrieve_their_tile(right) -> None:
    assert right[1] >= MIN_RIGHT


@pytest.mark.parametrize(
    "mistake", ["yaw sign flipped", "image rows reversed", "scale 1.5x (metres per pixel)"]
)
def test_a_wrong_convention_loses_the_tile(survey, right, mistake) -> None:
    matcher, correct = right
    wrong = _recall(survey, matcher, mistake)
    assert wrong <= MAX_WRONG and correct - wrong >= 0.25, (
        f"with the {mistake}, frames still retrieve their tile {wrong:.2f} of the time "
        f"(right: {correct:.2f}): this check could not catch that mistake"
    )
