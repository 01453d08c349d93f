"""`clip: {recording: ...}`: a real recording imported once into the cache, then cut."""

from pathlib import Path

import pytest

from harness.clip import ClipRef, Segment, load_clip
from harness.errors import ClipError
from tests.clip.test_rosbag import write_bag

FIX = Path(__file__).resolve().parents[2] / "fixtures"


def test_each_kind_is_imported_once_and_cut(tmp_path):
    cache = tmp_path / "cache"
    srt = ClipRef(
        recording={"kind": "dji-srt", "path": "dji/real/p4_rtk.SRT", "simulate_imu": True}
    )
    clip = load_clip(srt, Segment(start_s=10, duration_s=20), cache, root=FIX)
    assert clip.duration_s == 20 and clip.imu.t_s[0] == pytest.approx(0.0, abs=0.011)
    assert clip.manifest["imu_source"] == "simulated-from-track"
    again = load_clip(srt, Segment(start_s=10, duration_s=20), cache, root=FIX)
    assert again.content_hash == clip.content_hash
    assert len(list((cache / "recordings").iterdir())) == 1
    ulog = ClipRef(recording={"kind": "px4-ulog", "path": "px4/sample_log_small.ulg"})
    px4 = load_clip(ulog, Segment(), cache, root=FIX)
    assert px4.manifest["provenance"]["truth_source"] == "gnss" and len(px4.imu.t_s) == 1298
    write_bag(tmp_path / "bag", "mcap", True)
    bag = ClipRef(recording={"kind": "ros2-bag", "path": "bag", "time": "receive"})
    assert load_clip(bag, Segment(), cache, root=tmp_path).manifest["provenance"]["clock"] == (
        "receive"
    )
    assert len(list((cache / "recordings").iterdir())) == 3


def test_a_missing_or_broken_recording_names_the_file(tmp_path):
    ref = ClipRef(recording={"kind": "px4-ulog", "path": "nope.ulg"})
    with pytest.raises(ClipError, match=r"nope.ulg: does not exist; fix `clip: recording:`"):
        load_clip(ref, Segment(), tmp_path / "c", root=tmp_path)
    (tmp_path / "empty.SRT").write_text("")
    ref = ClipRef(recording={"kind": "dji-srt", "path": "empty.SRT"})
    with pytest.raises(ClipError, match=r"empty.SRT: no cues at all"):
        load_clip(ref, Segment(), tmp_path / "c", root=tmp_path)
    assert not list((tmp_path / "c" / "recordings").glob("*"))  # no half-imported folder
