"""Fault injections on the stand-in's frame stream: drops, time offset, corruption, truncation."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from harness.synth.spec import CameraImuOffset, DroppedFrames, FrameCorruption, TruncatedVideo


@dataclass(frozen=True)
class FramePlan:
    """Which rendered instants reach the video, the stamps they carry, and which are corrupted."""

    t_true_s: np.ndarray  # the instant each kept frame shows
    t_stamp_s: np.ndarray  # the time it is stamped with
    corrupted: np.ndarray  # bool per kept frame


def plan_frames(duration_s: float, fps: float, faults: list) -> FramePlan:
    t = np.arange(int(np.floor(duration_s * fps + 1e-9))) / fps
    keep = np.ones(len(t), bool)
    corrupted = np.zeros(len(t), bool)
    offset = 0.0
    for f in faults:
        if isinstance(f, DroppedFrames):
            keep &= ~((t >= f.start_s) & (t < f.start_s + f.duration_s))
        elif isinstance(f, TruncatedVideo):
            keep &= t < f.at_s
        elif isinstance(f, CameraImuOffset):
            offset += f.offset_s
        elif isinstance(f, FrameCorruption):
            corrupted |= (t >= f.start_s) & (t < f.start_s + f.duration_s)
    stamp = t + offset
    keep &= (stamp >= 0) & (stamp < duration_s)  # stamps outside the clip cannot be stored
    return FramePlan(t[keep], stamp[keep], corrupted[keep])


def corrupt(rgb: np.ndarray, rng: np.random.Generator, fraction: float) -> np.ndarray:
    """Overwrite about `fraction` of the image with 16 px blocks of noise, like a broken link."""
    h, w = rgb.shape[:2]
    out = rgb.copy()
    bh, bw = max(1, h // 16), max(1, w // 16)
    hit = rng.random((16, 16)) < fraction
    for i, j in zip(*np.nonzero(hit), strict=True):
        out[i * bh : (i + 1) * bh, j * bw : (j + 1) * bw] = rng.integers(
            0, 256, (bh, bw, 3), dtype=np.uint8
        )
    return out


def fault_fraction(faults: list) -> float:
    return max((f.fraction for f in faults if isinstance(f, FrameCorruption)), default=0.5)
