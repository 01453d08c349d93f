"""Integration: the default 60 s clip with both corpora, made from nothing, meets the targets."""

import numpy as np
import pytest

from harness.clip import ClipRef, Segment, load_clip
from harness.synth.spec import SynthSpec


@pytest.mark.slow
def test_default_60s_clip(tmp_path):
    clip = load_clip(ClipRef(synth=SynthSpec()), Segment(), tmp_path)
    assert clip.duration_s == 60.0 and len(clip.frames) == 600
    speed = np.linalg.norm(clip.truth.v_ned_m_s[:, :2], axis=1)
    assert speed.min() > 11 and speed.max() < 20
    assert np.all(-clip.truth.p_ned_m[:, 2] > 280)
    grid = clip.corpus()
    inside = [
        np.all(np.abs(grid.centres_ne_m - p) <= grid.size_m / 2, axis=1).any()
        for p in clip.truth.p_ned_m[::100, :2]
    ]
    assert all(inside)
    assert 150 < clip.corpus("xyz").size_m < 250  # z17 at 50 N: about 196 m
