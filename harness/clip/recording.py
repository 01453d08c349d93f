"""A scenario's real recording (`clip: {recording: ...}`) imported once into the cache."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from harness.build_times import timed
from harness.clip.spec import RecordingSpec
from harness.digest import file_digest
from harness.errors import ClipError

READER_VERSION = 5  # bump when a reader's output changes, so cached imports are redone


def _digest(path: Path, cache_dir: Path) -> str:
    if path.is_dir():  # a ROS 2 bag folder: every file in it
        h = hashlib.sha256()
        for f in sorted(p for p in path.rglob("*") if p.is_file()):
            h.update(f.relative_to(path).as_posix().encode())
            h.update(file_digest(f, cache_dir).encode())
        return h.hexdigest()
    return file_digest(path, cache_dir)


def import_recording(spec: RecordingSpec, root: Path, cache_dir: Path) -> Path:
    """The bundle folder for `spec` (paths relative to `root`), imported on first use."""
    path = spec.path if spec.path.is_absolute() else root / spec.path
    video = (
        None
        if spec.video is None
        else (spec.video if spec.video.is_absolute() else root / spec.video)
    )
    track = (
        None
        if spec.track is None
        else (spec.track if spec.track.is_absolute() else root / spec.track)
    )
    for p in (path, video, track):
        if p is not None and not p.exists():
            raise ClipError(
                f"{p}: does not exist; fix `clip: recording:` (paths relative to {root})"
            )
    key = json.dumps(
        [
            READER_VERSION,
            spec.model_dump(mode="json", exclude={"path", "video", "track"}),
            _digest(path, cache_dir),
            None if video is None else _digest(video, cache_dir),
            None if track is None else _digest(track, cache_dir),
        ]
    )
    folder = cache_dir / "recordings" / hashlib.sha256(key.encode()).hexdigest()[:24]
    if (folder / "manifest.json").exists():
        return folder
    part = folder.with_name(f"{folder.name}.part-{os.getpid()}")
    shutil.rmtree(part, ignore_errors=True)
    try:
        with timed("clip", f"{spec.kind} recording {path.name}"):
            _import(spec, path, video, track, part)
        shutil.rmtree(folder, ignore_errors=True)
        part.rename(folder)
    finally:
        shutil.rmtree(part, ignore_errors=True)
    return folder


def _import(
    spec: RecordingSpec, path: Path, video: Path | None, track: Path | None, out: Path
) -> None:
    hfov = 60.0 if spec.hfov_deg is None else spec.hfov_deg
    if spec.kind == "survey":
        from harness.clip.survey import import_survey

        import_survey(
            path,
            track,
            out,
            frame_px=spec.frame_px,
            hfov_deg=spec.hfov_deg,
            frame_offset_s=spec.frame_offset_s,
            frame_offset_sigma_s=spec.frame_offset_sigma_s,
            simulate_imu=spec.simulate_imu,
        )
    elif spec.kind == "dji-srt":
        from harness.clip.srt_import import import_dji

        import_dji(
            video,
            path,
            out,
            hfov_deg=hfov,
            assume_alt_m=spec.assume_alt_m,
            simulate_imu=spec.simulate_imu,
        )
    elif spec.kind == "px4-ulog":
        from harness.clip.imu_rate import MIN_IMU_HZ
        from harness.clip.ulog import import_ulog

        minimum = MIN_IMU_HZ if spec.min_imu_hz is None else spec.min_imu_hz
        import_ulog(
            path,
            out,
            video,
            spec.video_start_s,
            hfov,
            spec.truth_source,
            min_imu_hz=minimum,
        )
    else:
        from harness.clip.rosbag import import_rosbag

        import_rosbag(path, out, time=spec.time, hfov_deg=hfov)
