"""The stack input folder (format `harness-stack-input`, version 1): what a foreign stack may read.

It is the clip's segment as a stack would see it in flight: IMU, frame stamps and pixels,
camera, origin and one tile corpus. Ground truth, the synthetic generator's parameters and its
fault record are left out: truth reaches only the gates. Written once per (clip, corpus) into
the cache and shared read-only by every run of that clip.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np

from harness.clip import Clip
from harness.clip.corpus import write_corpus
from harness.clip.manifest import FRAME_COLUMNS, IMU_COLUMNS

FORMAT = "harness-stack-input"
FORMAT_VERSION = 1
# What of the clip's manifest a stack may read; everything else (truth, provenance, faults,
# the orthophoto) stays with the harness.
MANIFEST_KEYS = ("name", "origin", "duration_s", "conventions", "camera", "imu_noise", "licence")


def stack_input(clip: Clip, corpus_kind: str, cache_dir: Path) -> Path:
    """The folder for this clip segment and corpus, written on first use."""
    folder = cache_dir / "stack-input" / f"{clip.content_hash[:24]}-{corpus_kind}-v{FORMAT_VERSION}"
    if (folder / "input.json").exists():
        return folder
    part = folder.with_name(f"{folder.name}.part-{os.getpid()}")
    shutil.rmtree(part, ignore_errors=True)
    write_stack_input(clip, corpus_kind, part)
    try:
        part.rename(folder)
    except OSError:  # another run wrote it first
        shutil.rmtree(part, ignore_errors=True)
    return folder


def write_stack_input(clip: Clip, corpus_kind: str, folder: Path) -> None:
    folder.mkdir(parents=True)
    corpus = clip.corpus(corpus_kind)
    write_corpus(folder / "corpus" / corpus_kind, corpus)
    imu = np.column_stack([clip.imu.t_s, clip.imu.gyro_rad_s, clip.imu.accel_m_s2])
    np.save(folder / "imu.npy", imu.astype(np.float64))
    t = np.asarray(clip.frames.t_s, dtype=np.float64)
    np.save(folder / "frames.npy", t)
    height, width = (clip.frames.read(0).shape[:2]) if len(t) else (0, 0)
    pixels = np.lib.format.open_memmap(
        folder / "frames_rgb.npy", mode="w+", dtype=np.uint8, shape=(len(t), height, width, 3)
    )
    for i in range(len(t)):
        pixels[i] = clip.frames.read(i)
    pixels.flush()
    del pixels
    doc = {k: clip.manifest[k] for k in MANIFEST_KEYS if k in clip.manifest}
    doc |= {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "duration_s": clip.duration_s,
        "clip_hash": clip.content_hash,
        "ground_truth": "withheld: the gates compare against it, the stack never sees it",
        "streams": {
            "imu": {"file": "imu.npy", "columns": IMU_COLUMNS, "samples": len(imu)},
            "frames": {
                "file": "frames.npy",
                "columns": FRAME_COLUMNS,
                "samples": len(t),
                "pixels": "frames_rgb.npy",
                "pixels_shape": [len(t), height, width, 3],
            },
        },
        "corpus": {
            "kind": corpus_kind,
            "path": f"corpus/{corpus_kind}",
            "tiles": len(corpus.ids),
            "size_m": corpus.size_m,
        },
    }
    (folder / "input.json").write_text(json.dumps(doc, indent=1))
    (folder / "stack.txt").write_text(_flat(doc, clip, corpus, height, width))


def _flat(doc: dict, clip: Clip, corpus, height: int, width: int) -> str:
    """The same facts as `key value` lines, for stacks with no JSON parser at hand."""
    cam = clip.camera
    tile_px = corpus.image(0).shape[0] if len(corpus.ids) else 0
    rows = [
        ("stack_input_version", FORMAT_VERSION),
        ("duration_s", repr(clip.duration_s)),
        ("origin_lat_deg", doc["origin"]["lat_deg"]),
        ("origin_lon_deg", doc["origin"]["lon_deg"]),
        ("origin_alt_m", doc["origin"]["alt_m"]),
        ("imu", "imu.npy"),
        ("imu_samples", len(clip.imu.t_s)),
        ("frames", len(clip.frames)),
        ("frames_t", "frames.npy"),
        ("frames_rgb", "frames_rgb.npy"),
        ("frame_height", height),
        ("frame_width", width),
    ]
    if cam is not None:
        rows += [(f"camera_{k}", getattr(cam, k)) for k in ("fx", "fy", "cx", "cy")]
    rows += [
        ("corpus", corpus.kind),
        ("tiles", len(corpus.ids)),
        ("tile_px", tile_px),
        ("tile_size_m", corpus.size_m),
        ("tiles_rgb", f"corpus/{corpus.kind}/tiles.npy"),
    ]
    lines = [f"{k} {v}" for k, v in rows]
    lines += [
        f"tile {i} {tid} {c[0]:.3f} {c[1]:.3f}"
        for i, (tid, c) in enumerate(zip(corpus.ids, corpus.centres_ne_m, strict=True))
    ]
    return "\n".join(lines) + "\n"
