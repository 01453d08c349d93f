"""The fine-tune on real frames never sees the frames zr10-finetuned replays, nor their ground.

The scenario's segment is the split's held-out window; every frame inside it (each is a query
at the scenario's rate) lies farther than the guard from every training sample, query crop or
map crop. Moving the segment, the split or the guard so that they overlap fails here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("morecantile", reason="the map is a GeoTIFF: pip install '.[geotiff]'")

from harness.reference.models.realrecipe import RealSplit
from harness.reference.models.realset import (
    frame_positions,
    real_training_set,
    survey_clip,
)
from harness.scenario.load import load

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = Path(__file__).with_name("zr10-finetuned.scenario.yaml")


@pytest.fixture(scope="module")
def split_and_set():
    split = RealSplit()
    return split, real_training_set(split, ROOT, ROOT / ".cache")


def test_the_scenario_replays_exactly_the_held_out_window() -> None:
    seg = load(SCENARIO, ROOT).scenario.segment
    split = RealSplit()
    start, end = seg.start_s, seg.start_s + seg.duration_s
    assert (start, end) == (split.heldout_from_s, split.heldout_to_s), (
        f"{SCENARIO.name} replays {start}-{end} s but the fine-tune holds out "
        f"{split.heldout_from_s}-{split.heldout_to_s} s: the scenario would query trained frames"
    )


def test_no_training_sample_shows_a_replayed_frame_or_its_ground(split_and_set) -> None:
    split, rs = split_and_set
    clip = survey_clip(split, ROOT, ROOT / ".cache")
    t = clip.frames.t_s
    replayed = np.flatnonzero((t >= split.heldout_from_s) & (t < split.heldout_to_s))
    assert len(replayed) >= 30, "the held-out lines give fewer queries than min_queries"
    assert t[rs.frames].max() < split.heldout_from_s
    assert not set(rs.frames) & set(replayed)
    ne = frame_positions(clip)[replayed]
    for what, pts in (("query crop", rs.truth_ne_m), ("map crop", rs.centres_ne_m)):
        nearest = np.linalg.norm(pts[:, None] - ne[None], axis=2).min()
        assert nearest > split.guard_m, (
            f"a training {what} lies {nearest:.1f} m from a replayed frame"
        )
    # the guard covers a tile's diagonal plus the truth's 95 % radius (the survey's manifest)
    r95 = clip.manifest["truth_uncertainty"]["horizontal_95_m"]
    assert split.guard_m >= 18.5 * np.sqrt(2) + r95
    assert len(rs.queries) >= 100 and len(rs.tiles) >= 100
