"""Clip bundles on disk: write a folder, read a folder or .tar into a checked Clip.

Layout: manifest.json, imu.npy (N,7), truth.npy (N,11, optional), telemetry.npy (N,6,
optional), frames.npy (M,) with video.mp4, corpus/<kind>/ (optional). See docs/clip.md.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import shutil
import tarfile
from pathlib import Path

import numpy as np

from harness import atomic
from harness.clip import manifest as mf
from harness.clip.corpus import read_corpus
from harness.clip.model import (
    Camera,
    Clip,
    Frames,
    ImuStream,
    Origin,
    Telemetry,
    Truth,
    empty_imu,
)
from harness.clip.video import VideoFrames
from harness.digest import file_digest
from harness.errors import ClipError

log = logging.getLogger(__name__)


def manifest_hash(manifest: dict) -> str:
    body = {k: v for k, v in manifest.items() if k != "content_hash" and not k.startswith("_")}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def write_bundle(
    folder: Path,
    manifest: dict,
    imu: np.ndarray | None,
    truth: np.ndarray | None,
    frames_t: np.ndarray | None,
    telemetry: np.ndarray | None = None,
    extra: dict[str, tuple[np.ndarray, list[str]]] | None = None,
) -> dict:
    """Write the streams next to an already placed video/corpus; fill in files, counts and the hash.

    `manifest` carries name, origin, conventions, camera, licence, provenance, faults and, for a
    video, `streams.frames.video`; this adds the stream tables and `content_hash`. `telemetry`
    (columns `TELEMETRY_COLUMNS`) is the flight controller's AHRS attitude and baro height;
    `extra`: further sensor streams by name (e.g. `baro`), each a table and its column names.
    """
    folder.mkdir(parents=True, exist_ok=True)
    streams = manifest.setdefault("streams", {})
    for name, data, columns in (
        ("imu", imu, mf.IMU_COLUMNS),
        ("truth", truth, mf.TRUTH_COLUMNS),
        ("frames", frames_t, mf.FRAME_COLUMNS),
        ("telemetry", telemetry, mf.TELEMETRY_COLUMNS),
        *((name, table, cols) for name, (table, cols) in (extra or {}).items()),
    ):
        if data is None:
            streams[name] = None
            continue
        data = np.ascontiguousarray(data, dtype=np.float64).reshape(len(data), len(columns))
        np.save(folder / f"{name}.npy", data)
        entry = streams.get(name) or {}
        entry.update({"file": f"{name}.npy", "columns": columns, "samples": len(data)})
        if len(data) > 1:
            entry["rate_hz"] = round(float((len(data) - 1) / (data[-1, 0] - data[0, 0])), 3)
        streams[name] = entry
    if truth is None:
        manifest["ground_truth"] = False  # legal: its verdicts are "unverified"
    manifest["files"] = {
        p.name: file_digest(p)
        for p in sorted(folder.iterdir())
        if p.is_file() and p.name != "manifest.json"
    }
    manifest["content_hash"] = manifest_hash(manifest)
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return manifest


def read_table(folder: Path, entry: dict, salvage: bool) -> np.ndarray:
    """A stream table (rows x manifest columns); a short file is an error naming the row."""
    path = folder / entry["file"]
    try:
        with path.open("rb") as f:
            version = np.lib.format.read_magic(f)
            read_header = (
                np.lib.format.read_array_header_1_0
                if version == (1, 0)
                else np.lib.format.read_array_header_2_0
            )
            shape, _, dtype = read_header(f)
            offset = f.tell()
        raw = np.fromfile(path, dtype=dtype, offset=offset)
    except (OSError, ValueError) as exc:
        raise ClipError(
            f"{path}: unreadable stream ({exc}); re-make or re-import the bundle"
        ) from None
    cols = len(entry["columns"])
    if len(shape) != 2 or shape[1] != cols:
        raise ClipError(f"{path}: shape {shape} does not match manifest columns {entry['columns']}")
    rows = len(raw) // cols
    if rows < entry["samples"] or rows < shape[0]:
        msg = (
            f"{path}: truncated at row {rows} of {entry['samples']} "
            f"(byte {offset + rows * cols * 8}); "
            "re-copy the bundle, or load with salvage=True to keep the complete rows"
        )
        if not salvage:
            raise ClipError(msg)
        log.warning("%s", msg)
    return raw[: rows * cols].reshape(rows, cols)[: entry["samples"]]


def _check_clock(t: np.ndarray, path: Path) -> None:
    bad = np.flatnonzero(~(np.diff(t) > 0))
    if len(bad):
        i = int(bad[0])
        raise ClipError(
            f"{path}: t_s is not increasing at row {i + 1} ({t[i]:.6f} s then {t[i + 1]:.6f} s; "
            f"{len(bad)} such rows); re-stamp the stream or drop the repeated rows"
        )
    if len(t) and (t[0] < -1e-9 or not np.isfinite(t).all()):
        raise ClipError(f"{path}: t_s must be finite seconds from the clip start (first is {t[0]})")


def resolve_tar(path: Path, cache_dir: Path) -> Path:
    """A .tar bundle is unpacked once into the cache, keyed by its digest."""
    folder = cache_dir / "bundles" / file_digest(path, cache_dir)[:24]
    if (folder / "manifest.json").exists():
        return folder
    part = atomic.temp_name(folder)  # a private folder: the tar's top folder may be any name
    try:
        try:
            with tarfile.open(path) as tar:
                tar.extractall(part, filter="data")
        except (tarfile.TarError, OSError) as exc:
            raise ClipError(f"{path}: cannot unpack the bundle ({exc}); re-copy the .tar") from None
        inner = next((p.parent for p in part.rglob("manifest.json")), None)
        if inner is None:
            raise ClipError(f"{path}: no manifest.json inside the tar; pack the bundle folder")
        with contextlib.suppress(OSError):  # another process may have unpacked the same tar first
            inner.rename(folder)
    finally:
        shutil.rmtree(part, ignore_errors=True)
    return folder


def read_bundle(
    path: Path, cache_dir: Path | None = None, salvage: bool = False, verify: bool = True
) -> Clip:
    """Load and check a bundle; `verify` checks every stream file against the manifest's digest
    (digests memoised in `cache_dir` while a file is unchanged)."""
    path = Path(path)
    if path.suffix == ".tar":
        cache_dir = cache_dir or path.parent / ".cache"
        path = resolve_tar(path, cache_dir)
    where = path / "manifest.json"
    try:
        manifest = json.loads(where.read_text())
    except (OSError, ValueError) as exc:
        raise ClipError(
            f"{where}: cannot read the manifest ({exc}); is {path} a clip bundle?"
        ) from None
    conv = mf.check_header(manifest, str(where))
    manifest["_path"] = str(path)
    streams = manifest.get("streams", {})
    imu = empty_imu()
    if streams.get("imu"):
        tab = read_table(path, streams["imu"], salvage)
        _check_clock(tab[:, 0], path / streams["imu"]["file"])
        imu = ImuStream(
            tab[:, 0],
            mf.to_canonical_vectors(tab[:, 1:4], conv, world=False),
            mf.to_canonical_vectors(tab[:, 4:7], conv, world=False),
        )
        mf.check_accel_sign(imu.accel_m_s2, str(path / streams["imu"]["file"]))
    truth = None
    if streams.get("truth"):
        tab = read_table(path, streams["truth"], salvage)
        _check_clock(tab[:, 0], path / streams["truth"]["file"])
        truth = Truth(
            tab[:, 0],
            mf.to_canonical_vectors(tab[:, 1:4], conv, world=True),
            mf.to_canonical_vectors(tab[:, 4:7], conv, world=True),
            mf.to_canonical_quat(tab[:, 7:11], conv),
        )
    telemetry = None
    if streams.get("telemetry"):
        tab = read_table(path, streams["telemetry"], salvage)
        _check_clock(tab[:, 0], path / streams["telemetry"]["file"])
        telemetry = Telemetry(tab[:, 0], mf.to_canonical_quat(tab[:, 1:5], conv), tab[:, 5])
    frames = Frames(np.zeros(0), None)
    if streams.get("frames"):
        entry = streams["frames"]
        t = read_table(path, entry, salvage)[:, 0]
        _check_clock(t, path / entry["file"])
        video = VideoFrames(path / entry["video"], len(t))
        have = video.frame_count()
        if have < len(t):
            msg = (
                f"{path / entry['video']}: holds {have} frames "
                f"but {entry['file']} stamps {len(t)}; "
                "the video is truncated: re-export it, or load with salvage=True to keep the first "
                f"{have}"
            )
            if not salvage:
                raise ClipError(msg)
            log.warning("%s", msg)
            t = t[:have]
        frames = Frames(t, video)
    if verify and not salvage:
        for name, digest in manifest.get("files", {}).items():
            if not (path / name).exists() or file_digest(path / name, cache_dir) != digest:
                raise ClipError(
                    f"{path / name}: missing or not the file the manifest's digest "
                    "names; re-copy the bundle"
                )
    cam = manifest.get("camera")
    camera = (
        Camera(
            **{k: cam[k] for k in ("fx", "fy", "cx", "cy", "width", "height")},
            mounting=cam.get("mounting", {}),
        )
        if cam
        else None
    )
    corpora = {
        kind: (lambda p=path / entry["path"]: read_corpus(p))
        for kind, entry in manifest.get("corpus", {}).items()
    }
    o = manifest["origin"]
    return Clip(
        content_hash=manifest["content_hash"],
        origin=Origin(o["lat_deg"], o["lon_deg"], o["alt_m"]),
        duration_s=float(manifest["duration_s"]),
        imu=imu,
        truth=truth,
        telemetry=telemetry,
        frames=frames,
        camera=camera,
        manifest=manifest,
        _corpora=corpora,
    )
