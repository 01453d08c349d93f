"""The real training source's split: held-out frames and the ground they show never train."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from harness.reference.models import trained
from harness.reference.models.realrecipe import RealSplit, RealTuneJob
from harness.reference.models.realset import RealSet, SplitLeak, check_split, far_from


def _set(**change) -> RealSet:
    crops = np.zeros((3, 8, 8, 3), np.uint8)
    base = RealSet(
        "test survey",
        queries=crops,
        truth_ne_m=np.array([[0.0, 0.0], [0.0, 10.0], [10.0, 0.0]]),
        frames=np.array([1, 1, 2]),
        tiles=crops,
        centres_ne_m=np.array([[-5.0, 0.0], [0.0, -5.0], [5.0, 5.0]]),
        heldout_ne_m=np.array([[100.0, 0.0], [100.0, 20.0]]),
        heldout_frames=np.array([7, 8]),
    )
    return replace(base, **change)


def test_a_set_far_from_the_held_out_frames_passes() -> None:
    check_split(_set(), guard_m=40.0)


def test_a_held_out_frame_among_the_training_queries_is_refused() -> None:
    with pytest.raises(SplitLeak, match=r"held-out frames \[8\] are training queries"):
        check_split(_set(frames=np.array([1, 8, 2])), guard_m=40.0)


@pytest.mark.parametrize("field", ["truth_ne_m", "centres_ne_m"])
def test_a_sample_on_held_out_ground_is_refused(field) -> None:
    near = _set().__getattribute__(field).copy()
    near[2] = (80.0, 15.0)  # 20.6 m from held-out frame 8, inside the 40 m guard
    with pytest.raises(SplitLeak, match=r"lies 20\.6 m from held-out frame 8 \(guard 40 m\)"):
        check_split(_set(**{field: near}), guard_m=40.0)


def test_far_from_keeps_only_points_beyond_the_guard() -> None:
    held = np.array([[0.0, 0.0]])
    pts = np.array([[0.0, 39.9], [0.0, 40.1], [-50.0, 0.0]])
    assert far_from(pts, held, 40.0).tolist() == [False, True, True]
    assert far_from(pts, np.zeros((0, 2)), 40.0).all()


def test_the_split_windows_do_not_overlap() -> None:
    split = RealSplit()
    assert split.train_from_s < split.train_to_s <= split.heldout_from_s < split.heldout_to_s


def test_the_fine_tune_key_follows_the_split_and_the_survey(tmp_path) -> None:
    root = tmp_path
    (root / "s" / "images").mkdir(parents=True)
    (root / "s" / "images" / "IMG_0001.jpg").write_bytes(b"a")
    for name in ("gps.csv", "map.tif"):
        (root / "s" / name).write_bytes(b"x")
    split = RealSplit(images="s/images", track="s/gps.csv", map="s/map.tif")
    job = RealTuneJob(split=split)
    key = trained.real_key(job, root, tmp_path / "cache")
    assert trained.real_key(job, root, tmp_path / "cache") == key
    moved = RealTuneJob(split=replace(split, heldout_from_s=300.0))
    assert trained.real_key(moved, root, tmp_path / "cache") != key
    (root / "s" / "images" / "IMG_0001.jpg").write_bytes(b"b")
    assert trained.real_key(job, root, tmp_path / "cache") != key
