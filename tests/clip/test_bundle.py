"""Bundles: round trip, segments, conventions, clocks, truncation, tar, faults, hashes."""

import json
import shutil
import tarfile

import numpy as np
import pytest

from harness.clip import ClipRef, Segment, load_clip
from harness.clip.bundle import read_bundle
from harness.errors import ClipError
from harness.synth.make import make_synth
from harness.synth.spec import SynthSpec


@pytest.fixture
def copy(short_bundle, tmp_path):
    dst = tmp_path / "bundle"
    shutil.copytree(short_bundle, dst)
    return dst


def _edit(folder, fn):
    m = json.loads((folder / "manifest.json").read_text())
    fn(m)
    (folder / "manifest.json").write_text(json.dumps(m))


def test_load_clip_streams_and_api(cache_dir):
    clip = load_clip(ClipRef(synth=SynthSpec(preset="derkachi-10s", seed=3)), Segment(), cache_dir)
    assert clip.duration_s == 10.0 and len(clip.content_hash) == 64
    assert clip.imu.gyro_rad_s.shape == (len(clip.imu.t_s), 3) and len(clip.imu.t_s) == 2001
    assert clip.truth.q_wxyz.shape[1] == 4 and np.allclose(
        np.linalg.norm(clip.truth.q_wxyz, axis=1), 1
    )
    assert np.diff(clip.truth.t_s).max() <= 1 / 50 + 1e-9
    assert clip.frames.read(3).shape == (96, 96, 3) and clip.frames.read(3).dtype == np.uint8
    assert clip.camera.width == 96 and clip.camera.r_body_cam.shape == (3, 3)
    corpus = clip.corpus()
    assert corpus.kind == "local-grid" and corpus.footprints_ne_m.shape == (len(corpus.ids), 4, 2)
    assert corpus.image(0).shape == (240, 240, 3) and len(corpus.content_hash) == 64


def test_segment_cuts_every_stream_without_copying(cache_dir, short_bundle):
    full = read_bundle(short_bundle)
    seg = load_clip(ClipRef(bundle=short_bundle), Segment(start_s=4.0, duration_s=3.0), cache_dir)
    assert seg.duration_s == 3.0 and seg.content_hash != full.content_hash
    assert seg.imu.t_s[0] == pytest.approx(0.0, abs=0.01) and seg.imu.t_s[-1] < 3.0
    assert seg.truth.t_s[0] == 0.0 and len(seg.frames) == 15
    assert seg.telemetry.t_s[0] == 0.0 and len(seg.telemetry.t_s) == 150
    assert np.array_equal(seg.telemetry.baro_height_m, full.telemetry.baro_height_m[200:350])
    assert np.array_equal(seg.frames.read(0), full.frames.read(20))  # same video, offset index
    with pytest.raises(ClipError, match="outside the clip"):
        full.segment(9.0, 5.0)


def test_cached_make_is_reused(cache_dir, short_bundle):
    assert make_synth(SynthSpec(preset="derkachi-10s", seed=3), cache_dir) == short_bundle


def test_broken_convention_is_refused_with_the_key(copy):
    _edit(copy, lambda m: m["conventions"].update(world_frame="NWU"))
    with pytest.raises(ClipError, match=r"manifest.json: conventions.world_frame is 'NWU'"):
        read_bundle(copy)


def test_mislabelled_body_frame_is_caught_by_the_data(copy):
    _edit(copy, lambda m: m["conventions"].update(body_frame="FLU"))
    with pytest.raises(ClipError, match=r"imu.npy: median accel z is \+9"):
        read_bundle(copy, verify=False)


def test_enu_flu_xyzw_bundle_is_converted_on_load(copy, short_bundle):
    ref = read_bundle(short_bundle)
    imu = np.load(copy / "imu.npy")
    imu[:, 1:7] *= [1, -1, -1, 1, -1, -1]  # FRD -> FLU
    truth = np.load(copy / "truth.npy")
    truth[:, 1:7] = truth[:, [2, 1, 3, 5, 4, 6]] * [1, 1, -1, 1, 1, -1]  # NED -> ENU
    from scipy.spatial.transform import Rotation

    r = Rotation.from_quat(truth[:, 7:11], scalar_first=True).as_matrix()
    t_enu = np.array([[0, 1, 0], [1, 0, 0], [0, 0, -1.0]])
    truth[:, 7:11] = Rotation.from_matrix(t_enu @ r @ np.diag([1, -1, -1.0])).as_quat()  # x-first
    tel = np.load(copy / "telemetry.npy")
    r = Rotation.from_quat(tel[:, 1:5], scalar_first=True).as_matrix()
    tel[:, 1:5] = Rotation.from_matrix(t_enu @ r @ np.diag([1, -1, -1.0])).as_quat()
    np.save(copy / "imu.npy", imu)
    np.save(copy / "truth.npy", truth)
    np.save(copy / "telemetry.npy", tel)
    _edit(
        copy,
        lambda m: m["conventions"].update(
            world_frame="ENU", body_frame="FLU", quaternion_order="xyzw"
        ),
    )
    clip = read_bundle(copy, verify=False)
    assert np.allclose(clip.imu.accel_m_s2, ref.imu.accel_m_s2)
    assert np.allclose(clip.truth.p_ned_m, ref.truth.p_ned_m)
    dots = np.abs(np.sum(clip.truth.q_wxyz * ref.truth.q_wxyz, axis=1))
    assert np.allclose(dots, 1, atol=1e-9)
    dots = np.abs(np.sum(clip.telemetry.q_wxyz * ref.telemetry.q_wxyz, axis=1))
    assert np.allclose(dots, 1, atol=1e-9)
    assert np.array_equal(clip.telemetry.baro_height_m, ref.telemetry.baro_height_m)


def test_non_monotonic_clock_names_file_and_row(copy):
    imu = np.load(copy / "imu.npy")
    imu[100, 0] = imu[99, 0]
    np.save(copy / "imu.npy", imu)
    with pytest.raises(ClipError, match=r"imu.npy: t_s is not increasing at row 100"):
        read_bundle(copy)


def test_truncated_stream_names_the_row_and_salvage_keeps_the_rest(copy):
    data = (copy / "imu.npy").read_bytes()
    (copy / "imu.npy").write_bytes(data[: len(data) - 7 * 8 * 300 - 5])
    with pytest.raises(ClipError, match=r"imu.npy: truncated at row 1700 of 2001"):
        read_bundle(copy)
    clip = read_bundle(copy, salvage=True)
    assert len(clip.imu.t_s) == 1700


def test_truncated_video_is_refused_and_salvaged(tmp_path, cache_dir):
    folder = make_synth(
        SynthSpec(preset="derkachi-10s", seed=3, overrides={"corpus": False}), cache_dir
    )
    dst = tmp_path / "b"
    shutil.copytree(folder, dst)
    frames_t = np.load(dst / "frames.npy")
    np.save(dst / "frames.npy", np.concatenate([frames_t, frames_t[-1:] + 0.2]))
    _edit(dst, lambda m: m["streams"]["frames"].update(samples=len(frames_t) + 1))
    with pytest.raises(ClipError, match=r"video.mp4: holds 50 frames but frames.npy stamps 51"):
        read_bundle(dst, verify=False)
    assert len(read_bundle(dst, salvage=True).frames) == 50


def test_tar_bundle_and_corrupted_file(copy, tmp_path):
    tar = tmp_path / "clip.tar"
    with tarfile.open(tar, "w") as t:
        t.add(copy, arcname="clip")
    clip = read_bundle(tar, tmp_path / "cache")
    assert clip.content_hash == read_bundle(copy).content_hash
    with (copy / "imu.npy").open("r+b") as f:
        f.seek(-3, 2)
        f.write(b"\x01\x02\x03")
    with pytest.raises(ClipError, match=r"imu\.npy: missing or not the file"):
        read_bundle(copy)


def test_bundle_without_truth_or_corpus_is_legal(copy):
    (copy / "truth.npy").unlink()
    shutil.rmtree(copy / "corpus")
    _edit(
        copy,
        lambda m: (
            m["streams"].update(truth=None),
            m.update(corpus={}),
            m["files"].pop("truth.npy"),
        ),
    )
    clip = read_bundle(copy)
    assert clip.truth is None
    with pytest.raises(ClipError, match="no 'local-grid' tile corpus"):
        clip.corpus()


def test_faults_shape_the_streams(cache_dir):
    spec = SynthSpec(
        preset="derkachi-10s",
        seed=3,
        overrides={"corpus": False},
        faults=[
            {"kind": "dropped_frames", "start_s": 2.0, "duration_s": 1.0},
            {"kind": "camera_imu_offset", "offset_s": 0.05},
            {"kind": "frame_corruption", "start_s": 5.0, "duration_s": 0.4, "fraction": 0.6},
            {"kind": "truncated_video", "at_s": 8.0},
            {"kind": "imu_bias_step", "at_s": 6.0, "gyro_rad_s": [0.0, 0.0, 0.02]},
        ],
    )
    clean = read_bundle(
        make_synth(SynthSpec(preset="derkachi-10s", seed=3, overrides={"corpus": False}), cache_dir)
    )
    clip = read_bundle(make_synth(spec, cache_dir))
    assert len(clip.frames) == 40 - 5 and clip.frames.t_s[-1] == pytest.approx(7.85)
    assert np.allclose(clip.frames.t_s[:10], np.arange(10) * 0.2 + 0.05)
    gaps = np.diff(clip.frames.t_s)
    assert gaps.max() == pytest.approx(1.2)
    bad = clip.manifest["fault_record"]["corrupted_frames"]
    assert len(bad) == 2
    diff = np.abs(clip.frames.read(bad[0]).astype(int) - clean.frames.read(bad[0] + 5).astype(int))
    assert diff.mean() > 20
    step = clip.imu.gyro_rad_s[:, 2] - clean.imu.gyro_rad_s[:, 2]
    assert np.allclose(step[clip.imu.t_s >= 6.0], 0.02) and np.allclose(step[clip.imu.t_s < 6.0], 0)


def test_make_is_a_pure_function_of_spec_and_seed(short_bundle, tmp_path):
    again = make_synth(SynthSpec(preset="derkachi-10s", seed=3), tmp_path)
    assert again != short_bundle
    assert read_bundle(again).content_hash == read_bundle(short_bundle).content_hash
    assert (
        read_bundle(again).corpus("xyz").content_hash
        == read_bundle(short_bundle).corpus("xyz").content_hash
    )


def test_verify_hashes_a_file_once_until_it_changes(copy, tmp_path, monkeypatch):
    """Digests are memoised by size, mtime and inode: a multi-GB video is read once, and a
    file rewritten in place is read again and caught."""
    import hashlib

    import harness.digest as digest

    memo = tmp_path / "memo"
    files_hashed = []  # file hashing starts from an empty sha256(); keys hash a string

    class Spy:
        @staticmethod
        def sha256(*data):
            files_hashed.extend([] if data else [1])
            return hashlib.sha256(*data)

    monkeypatch.setattr(digest, "hashlib", Spy)
    read_bundle(copy, memo)
    assert len(files_hashed) >= 3  # imu, truth, frames, video, corpus files
    files_hashed.clear()
    read_bundle(copy, memo)
    assert files_hashed == []  # unchanged files: the memo answered
    imu = np.load(copy / "imu.npy")
    imu[5, 1] += 1e-3
    np.save(copy / "imu.npy", imu)
    with pytest.raises(ClipError, match=r"imu\.npy: missing or not the file the manifest.s digest"):
        read_bundle(copy, memo)
    assert files_hashed == [1]
