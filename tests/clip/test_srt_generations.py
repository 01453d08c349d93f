"""DJI SRT: real sidecars of every generation (fixtures/dji/real) and the broken-file cases."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.clip.bundle import read_bundle
from harness.clip.srt import parse_srt
from harness.clip.srt_import import import_dji
from harness.clip.video import probe, write_video
from harness.errors import ClipError

REAL = Path(__file__).resolve().parents[2] / "fixtures" / "dji" / "real"

# file, samples, height above take-off field, altitude field, first (lat, lon), (min, max) of
# the height above take-off (else of the altitude), cadence, first cue start
GENERATIONS = [
    ("old_format.SRT", 468, "Hb", None, (-20.2533, 149.0251), (-1.7, 118.7), "1 Hz", 1.0),
    ("mavic_pro.SRT", 468, "BAROMETER", None, (-20.2533, 149.0251), (-1.7, 118.7), "1 Hz", 1.0),
    ("mavic_pro_buggy.SRT", 530, "BAROMETER", None, (42.4668, -1.2218), (0.0, 119.6), "1 Hz", 1.0),
    ("matrice_300.srt", 381, "BAROMETER", None, (36.6146, -6.1120), (-0.1, 87.9), "1 Hz", 0.0),
    ("mavic_mini.SRT", 117, "H", None, (48.0771, -121.7458), (200.5, 201.0), "1 Hz", 0.0),
    ("p4_rtk.SRT", 55, "H", None, (-34.237922, -58.851745), (85.48, 86.07), "1 Hz", 0.0),
    ("p4p_sample.SRT", 5, "H", None, (47.4692, 8.2090), (45.6, 45.6), "1 Hz", 0.0),
    (
        "m2zoom_first300.SRT",
        300,
        None,
        "altitude",
        (31.452012, 74.398751),
        (213.977, 214.078),
        "per-frame",
        0.0,
    ),
    ("air2s.srt", 17, None, "altitude", (41.424724, 2.234156), (117.0, 117.1), "per-frame", 0.0),
    ("mavic_air2.srt", 25, None, "altitude", (41.420684, 2.162162), (27.3, 29.2), "per-frame", 0.0),
    (
        "MAVIC3_first300.srt",
        300,
        "rel_alt",
        "abs_alt",
        (3.41531, -3.37440),
        (-2.4, -2.4),
        "per-frame",
        0.0,
    ),
    (
        "MAVIC3_cues7001-7300.srt",
        300,
        "rel_alt",
        "abs_alt",
        (3.41423, -3.37455),
        (10.9, 11.0),
        "per-frame",
        140.0,
    ),
]


@pytest.mark.parametrize(
    ("name", "n", "above", "other", "first", "span", "cadence", "t0"), GENERATIONS
)
def test_each_generation_reads_its_heights_by_meaning_and_its_times(
    name, n, above, other, first, span, cadence, t0
):
    track = parse_srt(REAL / name)
    info = track.info
    assert len(track.t_s) == n and (info["height_field"], info["altitude_field"]) == (above, other)
    assert (track.lat_deg[0], track.lon_deg[0]) == pytest.approx(first)
    used = track.height_m if above else track.alt_m
    assert (used.min(), used.max()) == pytest.approx(span, abs=1e-3)
    assert np.isnan(track.height_m).all() == (above is None)
    assert np.isnan(track.alt_m).all() == (other is None)
    assert info["cadence"] == cadence and track.t_s[0] == pytest.approx(t0)
    assert np.all(np.diff(track.t_s) > 0)


def test_satellite_count_is_never_the_height():
    """GPS(lon,lat,16): 16 satellites for the whole flight; BAROMETER climbs 1.9 -> 118.7 m."""
    track = parse_srt(REAL / "mavic_pro.SRT")
    assert track.height_m[0] == pytest.approx(1.9) and np.mean(track.height_m == 16.0) < 0.05
    assert track.info["position_form"] == ["GPS(lon,lat,satellites)"]
    m300 = parse_srt(REAL / "matrice_300.srt")  # GPS(lat,lon,0.0M): lat first, 0.0 is precision
    assert m300.info["position_form"] == ["GPS(lat,lon,precision M)"]
    assert m300.height_m.max() == pytest.approx(87.9)


@pytest.mark.parametrize(
    ("name", "rate"),
    [
        ("air2s.srt", 30.0),
        ("mavic_air2.srt", 60.0),
        ("m2zoom_first300.SRT", 59.94),
        ("MAVIC3_first300.srt", 50.0),
    ],
)
def test_per_frame_rates_come_from_the_cue_timeline(name, rate):
    assert parse_srt(REAL / name).info["cue_rate_hz"] == pytest.approx(rate, rel=0.01)


def test_two_frame_cues_and_counter_jumps_follow_the_cue_times():
    track = parse_srt(REAL / "mavic_2pro_new_first200.SRT")  # FrameCnt starts at 218, cues of 80 ms
    assert track.t_s[:3] == pytest.approx([0.0, 0.04, 0.12])
    assert track.info["altitude_field"] is None  # this generation sometimes writes no height
    assert track.info["height_field"] is None


def test_date_only_generation_is_clocked_by_cue_number():
    track = parse_srt(REAL / "mavic_2_style.SRT")  # no timing lines; dates repeat and skip
    assert len(track.t_s) == 468 and track.t_s[-1] == 467.0
    assert track.info["time_source"].startswith("cue number at 1 Hz")
    assert track.lon_deg[0] == pytest.approx(149.0251)  # spelt `longtitude`


def test_broken_files_give_complete_cues_or_nothing():
    assert len(parse_srt(REAL / "broken_empty.SRT").t_s) == 0  # 0 bytes
    assert len(parse_srt(REAL / "broken_empty2.SRT").t_s) == 0  # "1\n"
    cut = parse_srt(REAL / "broken_incomplete.SRT")  # last cue ends after its date
    assert len(cut.t_s) == 19 and cut.t_s[-1] == 19.0 and cut.info["no_position"] == 1
    cut2 = parse_srt(REAL / "broken_incomplete2.SRT")  # BOM, last cue ends inside `longtitude`
    assert len(cut2.t_s) == 4 and np.isfinite(cut2.lon_deg).all()


def test_no_position_and_mixed_generations_are_refused_with_the_place(tmp_path):
    with pytest.raises(ClipError, match=r"mavic_air.SRT: no cue carries a position .*2 cues"):
        import_dji(None, REAL / "mavic_air.SRT", tmp_path / "a")
    with pytest.raises(
        ClipError,
        match=r"mix_p4rtk_mavic2pro.srt:1: cue carries heights: H, not 'altitude' like most",
    ):
        parse_srt(REAL / "mix_p4rtk_mavic2pro.srt")
    kept = parse_srt(REAL / "mix_p4rtk_mavic2pro.srt", skip_bad=True)
    assert len(kept.t_s) == 6 and kept.t_s[0] == pytest.approx(909.942)  # edited export: 00:15:09
    with pytest.raises(ClipError, match=r"no cue carries a height .*--assume-alt-m"):
        import_dji(None, REAL / "mavic_2pro_new_first200.SRT", tmp_path / "b")
    clip = read_bundle(
        import_dji(None, REAL / "mavic_2pro_new_first200.SRT", tmp_path / "c", assume_alt_m=50.0)
    )
    assert np.abs(clip.truth.p_ned_m[:, 2]).max() < 0.01  # flat, up to the tangent plane


def test_one_hz_cues_keep_their_own_times_beside_a_30_fps_video(tmp_path):
    """5 cues (0..4 s) and a 5 s video of 150 frames: frames and truth each keep their clock."""
    mp4 = tmp_path / "p4p.mp4"
    write_video(mp4, (np.full((32, 32, 3), i, np.uint8) for i in range(150)), 30.0)
    clip = read_bundle(import_dji(mp4, REAL / "p4p_sample.SRT", tmp_path / "b"))
    assert len(clip.frames) == 150 and clip.frames.t_s[30] == pytest.approx(1.0, abs=1e-3)
    assert clip.truth.t_s.tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert clip.duration_s == pytest.approx(5.0, abs=0.05)
    prov = clip.manifest["provenance"]
    assert prov["height_field"] == "H" and "video timeline" in prov["time_alignment"]


def test_srt_alone_is_a_truth_only_bundle_from_the_first_cue(tmp_path):
    clip = read_bundle(import_dji(None, REAL / "mavic_pro.SRT", tmp_path / "b"))
    assert clip.truth.t_s[0] == 0.0 and len(clip.frames) == 0 and len(clip.imu.t_s) == 0
    # the origin is the take-off level (the height field's datum): heights above take-off
    assert -clip.truth.p_ned_m[:, 2].min() == pytest.approx(118.7, abs=0.01)
    assert -clip.truth.p_ned_m[0, 2] == pytest.approx(1.9, abs=0.01)
    assert "minus 1.000 s" in clip.manifest["provenance"]["time_alignment"]


def test_a_file_that_is_not_a_video_is_refused(tmp_path):
    tif = tmp_path / "frame.tif"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tif)
    with pytest.raises(ClipError, match=r"frame.tif: is a still image \(tiff"):
        probe(tif)
    with pytest.raises(ClipError, match=r"p4p_sample.SRT: PyAV finds no video stream .*subtitle"):
        probe(REAL / "p4p_sample.SRT")
    with pytest.raises(ClipError, match=r"is a directory"):
        probe(tmp_path)
    with pytest.raises(ClipError, match=r"frame.tif: is a still image"):
        import_dji(tif, REAL / "p4p_sample.SRT", tmp_path / "b")
    assert not (tmp_path / "b").exists()


def _cue(i: int, start_ms: int, end_ms: int, payload: str) -> str:
    def ts(ms: int) -> str:
        return f"00:00:{ms // 1000:02d},{ms % 1000:03d}"

    return f"{i}\r\n{ts(start_ms)} --> {ts(end_ms)}  \r\n{payload}  \r\n\r\n  \r\n"


def test_envelope_variants_and_special_values(tmp_path):
    """BOM, CRLF, trailing spaces, blank lines holding spaces; (0,0) before lock; radians;
    DJI FPV's tenth-scale `altitude` in font-28 files."""
    font36 = '<font size="36">[latitude : {}] [longtitude : {}] [altitude: 5.0]</font>'
    lock = [
        _cue(1, 0, 33, font36.format("0.000000", "0.000000")),
        _cue(2, 33, 66, font36.format("50.11", "36.12")),
        _cue(3, 66, 100, font36.format("50.1101", "36.12")),
    ]
    path = tmp_path / "lock.SRT"
    path.write_bytes(b"\xef\xbb\xbf" + "".join(lock).encode())
    track = parse_srt(path)
    assert len(track.t_s) == 2 and track.info["no_fix_0_0"] == 1 and track.t_s[0] == 0.033
    rad = "[latitude: {}] [longitude: 0.63042]"
    cues = [_cue(i + 1, i * 33, i * 33 + 33, rad.format(0.87458 + i * 1e-6)) for i in range(3)]
    (tmp_path / "rad.SRT").write_text("".join(cues))
    track = parse_srt(tmp_path / "rad.SRT")
    assert track.info.get("radians_converted")
    assert track.lat_deg[0] == pytest.approx(50.11, abs=0.01)
    font28 = '<font size="28">[latitude: 50.11] [longitude: 36.1{}] [altitude: 12.0]</font>'
    fpv = [_cue(i + 1, i * 33, i * 33 + 33, font28.format(i)) for i in range(2)]
    (tmp_path / "fpv.SRT").write_text("".join(fpv))
    assert parse_srt(tmp_path / "fpv.SRT").alt_m.tolist() == [120.0, 120.0]


def test_simulated_imu_is_opt_in_labelled_and_follows_the_real_track(tmp_path):
    raw = read_bundle(import_dji(None, REAL / "p4_rtk.SRT", tmp_path / "raw"))
    clip = read_bundle(import_dji(None, REAL / "p4_rtk.SRT", tmp_path / "sim", simulate_imu=True))
    assert clip.manifest["imu_source"] == "simulated-from-track"
    assert "SIMULATED" in clip.manifest["provenance"]["notes"]
    assert 99 < 1 / np.median(np.diff(clip.imu.t_s)) < 101
    assert np.median(clip.imu.accel_m_s2[:, 2]) == pytest.approx(-9.8, abs=0.2)
    assert np.isfinite(clip.truth.q_wxyz).all() and clip.truth.t_s[1] == pytest.approx(0.1)
    near = clip.truth.p_ned_m[clip.truth.index_at(raw.truth.t_s)]
    assert np.abs(near - raw.truth.p_ned_m).max() < 5.0  # smoothed, not invented
    mp4 = tmp_path / "v.mp4"
    write_video(mp4, (np.zeros((16, 16, 3), np.uint8) for _ in range(10)), 5.0)
    with pytest.raises(ClipError, match=r"simulate_imu works on the SRT alone"):
        import_dji(mp4, REAL / "p4_rtk.SRT", tmp_path / "v", simulate_imu=True)


def test_a_missing_stream_is_named_with_its_fix(tmp_path):
    clip = read_bundle(import_dji(None, REAL / "p4p_sample.SRT", tmp_path / "b"))
    clip.need("truth", "the oracle strategy")  # present: no error
    with pytest.raises(
        ClipError, match=r"the ESKF needs the clip's imu stream, .*its streams: truth, telemetry\)"
    ):
        clip.need("imu", "the ESKF")
    with pytest.raises(ClipError, match=r"the netvlad strategy needs the clip's frames stream"):
        clip.need("frames", "the netvlad strategy")
    with pytest.raises(ClipError, match=r"needs the clip's attitude stream.*simulate_imu"):
        clip.need("attitude", "the ESKF")


def test_cli_imports_an_srt_alone_and_refuses_a_tiff_video(tmp_path, capsys):
    from harness.commands.main import main

    assert main(["clip", "import-srt", str(REAL / "p4_rtk.SRT"), "-o", str(tmp_path / "a")]) == 0
    assert read_bundle(tmp_path / "a").manifest["provenance"]["height_field"] == "H"
    tif = tmp_path / "f.tif"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(tif)
    args = ["clip", "import-srt", str(tif), str(REAL / "p4_rtk.SRT"), "-o", str(tmp_path / "b")]
    assert main(args) == 1
    assert "f.tif: is a still image" in capsys.readouterr().err


def test_a_clip_that_starts_in_the_air_keeps_its_height_above_take_off(tmp_path):
    """Mavic 3, cues 7001-7300 (2:20 into the flight, rel_alt 10.9 m, abs_alt 13.701 m): the
    baro stream is rel_alt, never abs_alt minus its first value (0 m at the clip's start)."""
    clip = read_bundle(import_dji(None, REAL / "MAVIC3_cues7001-7300.srt", tmp_path / "b"))
    assert clip.telemetry.baro_height_m[0] == pytest.approx(10.9)
    assert clip.origin.alt_m == pytest.approx(13.701 - 10.9)  # the take-off level, abs_alt datum
    assert -clip.truth.p_ned_m[0, 2] == pytest.approx(10.9, abs=1e-3)
    prov = clip.manifest["provenance"]
    assert prov["altitude_field"] == "abs_alt" and prov["height_field"] == "rel_alt"
    assert "take-off level" in prov["truth_altitude"] and "rel_alt" in prov["telemetry_baro"]


def test_a_generation_without_height_above_take_off_gives_nan_baro_saying_why(tmp_path):
    clip = read_bundle(import_dji(None, REAL / "air2s.srt", tmp_path / "b"))
    assert np.isnan(clip.telemetry.baro_height_m).all()
    prov = clip.manifest["provenance"]
    assert "writes no height above the take-off point (only 'altitude'" in prov["telemetry_baro"]
    assert clip.origin.alt_m == pytest.approx(117.0) and "first fix" in prov["truth_altitude"]


def test_the_frame_clock_is_recorded_beside_the_cue_clock_never_used_for_time():
    """Mavic 2 Pro: FrameCnt starts at 218; cue 2 spans 40-120 ms while DiffTime says 41 ms."""
    track = parse_srt(REAL / "mavic_2pro_new_first200.SRT")
    clock = track.info["frame_clock"]
    assert clock["counter_first"] == 218 and clock["used_for_time"] is False
    assert clock["cues_longer_than_difftime"] > 0 and clock["cue_vs_difftime_max_ms"] == 40.0
    assert track.t_s[2] == pytest.approx(0.12)  # the cue's own start, not 2 x DiffTime
    assert (
        parse_srt(REAL / "MAVIC3_first300.srt").info["frame_clock"]["cue_vs_difftime_max_ms"] == 0
    )


def test_the_gimbal_attitude_is_the_cameras_and_says_when_it_is_not_nadir(tmp_path):
    """DJI Avata 360 (real, 5 cues): `[gb_yaw: -162.8 gb_pitch: 0.0 gb_roll: 0.0]`, no drone
    attitude: the gimbal's is kept as the camera's, never the drone's, and a camera at the
    horizon breaks the bundle's nadir mounting."""
    srt = REAL.parent / "metadata-embedder" / "avata360.SRT"
    track = parse_srt(srt)
    assert track.camera_ypr_deg[0] == pytest.approx([-162.8, 0.0, 0.0])
    assert track.drone_ypr_deg is None
    prov = read_bundle(import_dji(None, srt, tmp_path / "b")).manifest["provenance"]
    assert "[gb_yaw gb_pitch gb_roll]: median pitch 0.0 deg" in prov["camera_attitude"]
    assert "90 deg off nadir" in prov["camera_attitude"]
    assert prov["telemetry_attitude"] == "no drone attitude in this SRT: NaN"
