"""The stack input folder (format `harness-stack-input`, version 2): what a foreign stack may
read before its clock starts.

It holds what a stack knows before take-off: camera, origin, the streams' layouts and rates,
one tile corpus, and an empty `frames/` where each frame's pixels appear at its release
(harness.process.launch). No sample of a stream is in it: IMU, telemetry and frames come on the
clock. Ground truth, the synthetic generator's parameters and its fault record are left out:
truth reaches only the gates. Written once per (clip, corpus) into the cache and shared
read-only by every run of that clip.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from harness.clip import Clip
from harness.clip.corpus import write_corpus
from harness.clip.imu_rate import median_rate
from harness.clip.manifest import IMU_COLUMNS, TELEMETRY_COLUMNS

FORMAT = "harness-stack-input"
FORMAT_VERSION = 2
FRAMES_DIR = "frames"  # a run's frames appear here, one file each, at their release
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
    (folder / FRAMES_DIR).mkdir()  # where the run's frames are shown, empty here
    corpus = clip.corpus(corpus_kind)
    write_corpus(folder / "corpus" / corpus_kind, corpus)
    frames = len(clip.frames)
    height, width = (clip.frames.read(0).shape[:2]) if frames else (0, 0)
    doc = {k: clip.manifest[k] for k in MANIFEST_KEYS if k in clip.manifest}
    streams = {
        "imu": {"on": "stdin", "columns": IMU_COLUMNS, "samples": len(clip.imu.t_s),
                "rate_hz": median_rate(clip.imu.t_s)},
        "frames": {"on": "stdin", "dir": FRAMES_DIR, "samples": frames,
                   "rate_hz": median_rate(clip.frames.t_s), "shape": [height, width, 3],
                   "dtype": "uint8"},
    }  # fmt: skip
    if clip.telemetry is not None:
        streams["telemetry"] = {"on": "stdin", "columns": TELEMETRY_COLUMNS,
                                "samples": len(clip.telemetry.t_s),
                                "rate_hz": median_rate(clip.telemetry.t_s)}  # fmt: skip
    doc |= {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "duration_s": clip.duration_s,
        "clip_hash": clip.content_hash,
        "ground_truth": "withheld: the gates compare against it, the stack never sees it",
        "streams": streams,
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
        ("imu_samples", len(clip.imu.t_s)),
        ("frames", len(clip.frames)),
        ("frames_dir", FRAMES_DIR),
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
