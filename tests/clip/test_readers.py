"""Readers: DJI SRT + mp4 and PX4 ULog into bundles; bad inputs name the file and the place."""

from pathlib import Path

import numpy as np
import pytest

from harness.clip.bundle import read_bundle
from harness.clip.srt import parse_srt
from harness.clip.srt_import import import_dji
from harness.clip.ulog import import_ulog
from harness.clip.video import write_video
from harness.errors import ClipError

FIX = Path(__file__).resolve().parents[2] / "fixtures"
SRT = FIX / "dji" / "DJI_0001.SRT"
ULG = FIX / "px4" / "sample_log_small.ulg"


@pytest.fixture(scope="module")
def mp4(tmp_path_factory):
    path = tmp_path_factory.mktemp("dji") / "DJI_0001.MP4"
    write_video(path, (np.full((64, 64, 3), 8 * i, np.uint8) for i in range(30)), 30.0)
    return path


def test_srt_sample_parses():
    track = parse_srt(SRT)
    assert len(track.t_s) == 30 and track.t_s[1] == pytest.approx(0.033)
    assert track.lat_deg[0] == pytest.approx(50.11) and track.alt_m[0] == pytest.approx(590.0)
    assert track.height_m[0] == pytest.approx(300.0)  # rel_alt: above the take-off point


def test_older_dji_gps_field_format(tmp_path):
    old = tmp_path / "old.SRT"
    old.write_text(
        "1\n00:00:00,000 --> 00:00:01,000\nHOME(36.1200,50.1100) 2017.08.05 14:11:51\n"
        "GPS(36.1201,50.1102,19) BAROMETER:301.5\n\n"
        "2\n00:00:01,000 --> 00:00:02,000\nHOME(36.1200,50.1100) 2017.08.05 14:11:52\n"
        "GPS(36.1203,50.1104,19) BAROMETER:301.9\n"
    )
    track = parse_srt(old)
    assert track.lat_deg.tolist() == [50.1102, 50.1104] and track.lon_deg[0] == 36.1201


def test_dji_import_gives_a_position_truth_bundle(mp4, tmp_path):
    clip = read_bundle(import_dji(mp4, SRT, tmp_path / "b"))
    assert len(clip.frames) == 30 and clip.frames.read(29).shape == (64, 64, 3)
    assert len(clip.imu.t_s) == 0 and clip.manifest["streams"]["imu"] is None
    # truth is abs_alt (590 m) above an origin at the take-off level (590 - rel_alt 300 m)
    assert clip.origin.alt_m == pytest.approx(290.0)
    assert clip.truth.p_ned_m[0] == pytest.approx([0, 0, -300], abs=1e-6)
    assert clip.telemetry.baro_height_m[0] == pytest.approx(300.0)  # rel_alt, not 0
    assert np.isnan(clip.truth.q_wxyz).all()  # SRT has no attitude
    assert clip.truth.p_ned_m[-1, 0] == pytest.approx(29 * 1.2e-6 * 111_200, rel=0.02)


def test_bad_srt_names_the_line_and_skip_keeps_the_rest(tmp_path):
    text = SRT.read_text().replace("00:00:00,330 --> 00:00:00,363", "00:00:00,330 -> oops")
    bad = tmp_path / "bad.SRT"
    bad.write_text(text)
    with pytest.raises(
        ClipError, match=r"bad.SRT:61: bad cue time line .*10 cues before it parsed"
    ):
        parse_srt(bad)
    assert len(parse_srt(bad, skip_bad=True).t_s) == 29


def test_srt_clock_going_back_is_refused(tmp_path):
    text = SRT.read_text().replace("00:00:00,330 --> 00:00:00,363", "00:00:00,200 --> 00:00:00,363")
    bad = tmp_path / "back.SRT"
    bad.write_text(text)
    with pytest.raises(ClipError, match=r"back.SRT:61: cue starts at 0.200 s, not after"):
        parse_srt(bad)


def test_ulog_sample_becomes_imu_and_gps_truth(tmp_path):
    clip = read_bundle(import_ulog(ULG, tmp_path / "u"))
    assert len(clip.imu.t_s) == 1298 and 190 < 1 / np.median(np.diff(clip.imu.t_s)) < 210
    assert abs(np.median(clip.imu.accel_m_s2[:, 2]) + 9.8) < 0.5  # PX4 is FRD specific force
    assert clip.truth is not None and len(clip.truth.t_s) > 10
    assert clip.origin.lat_deg == pytest.approx(63.4170622)
    assert np.allclose(np.linalg.norm(clip.truth.q_wxyz, axis=1), 1)


def test_bad_ulog_files_name_the_place(tmp_path):
    bad = tmp_path / "not.ulg"
    bad.write_bytes(b"PK\x03\x04" + ULG.read_bytes()[4:2000])
    with pytest.raises(ClipError, match=r"not.ulg: byte 0: not a ULog file"):
        import_ulog(bad, tmp_path / "x")
    cut = tmp_path / "cut.ulg"
    cut.write_bytes(ULG.read_bytes()[:3000])
    with pytest.raises(ClipError, match=r"cut.ulg: "):
        import_ulog(cut, tmp_path / "y")


def test_truncated_ulog_keeps_what_was_readable(tmp_path):
    data = ULG.read_bytes()
    part = tmp_path / "part.ulg"
    part.write_bytes(data[: len(data) * 2 // 3])
    full = read_bundle(import_ulog(ULG, tmp_path / "full"))
    clip = read_bundle(import_ulog(part, tmp_path / "part"))
    n = len(clip.imu.t_s)
    assert 0 < n < len(full.imu.t_s)
    assert np.array_equal(clip.imu.gyro_rad_s, full.imu.gyro_rad_s[:n])


def test_fixtures_carry_their_licences():
    assert "BSD" in (FIX / "px4" / "README.md").read_text() and (FIX / "px4" / "LICENSE").exists()
    assert "CC0" in (FIX / "dji" / "README.md").read_text()
    assert "MIT" in (FIX / "dji" / "real" / "LICENSE").read_text()


def test_ulog_with_a_video_gets_frames_at_the_given_start(mp4, tmp_path):
    clip = read_bundle(import_ulog(ULG, tmp_path / "uv", video=mp4, video_start_s=1.0))
    assert len(clip.frames) == 30 and clip.frames.t_s[0] == pytest.approx(1.0)
    assert np.diff(clip.frames.t_s) == pytest.approx(np.full(29, 1 / 30), abs=1e-3)
    assert clip.camera.width == 64
    with pytest.raises(ClipError, match=r"DJI_0001.MP4: frames span \[6.000"):
        import_ulog(ULG, tmp_path / "late", video=mp4, video_start_s=6.0)
