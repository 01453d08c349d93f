"""Pictures of a clip: trajectory over the map (or corpus tiles), IMU traces, frame thumbnails."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from harness.clip.model import Clip


def _background(ax, clip: Clip) -> None:
    """The synth orthophoto when the bundle has one, else the corpus tile outlines."""
    folder = Path(clip.manifest.get("_path", "."))
    if (folder / "ortho.npy").exists():
        meta = json.loads((folder / "ortho.json").read_text())
        img = np.load(folder / "ortho.npy", mmap_mode="r")[::4, ::4]
        h, w = img.shape[:2]
        g = meta["gsd_m"] * 4
        ax.imshow(
            img,
            extent=(
                meta["e_min_m"],
                meta["e_min_m"] + w * g,
                meta["n_max_m"] - h * g,
                meta["n_max_m"],
            ),
        )
    elif clip.manifest.get("corpus"):
        corpus = clip.corpus(next(iter(clip.manifest["corpus"])))
        for foot in corpus.footprints_ne_m:
            ring = np.vstack([foot, foot[:1]])
            ax.plot(ring[:, 1], ring[:, 0], color="0.7", lw=0.5)


def plot_clip(clip: Clip, out: Path, thumbs: int = 6) -> Path:
    fig = plt.figure(figsize=(14, 9), constrained_layout=True)
    grid = fig.add_gridspec(3, thumbs)
    ax = fig.add_subplot(grid[:2, : thumbs // 2])
    _background(ax, clip)
    if clip.truth is not None:
        p = clip.truth.p_ned_m
        ax.plot(p[:, 1], p[:, 0], "r-", lw=1.5, label="truth")
        ax.plot(p[0, 1], p[0, 0], "wo", mec="k", label="start")
        ax.legend(loc="upper right")
    ax.set(
        xlabel="east [m]",
        ylabel="north [m]",
        title=clip.manifest.get("name", "clip"),
        aspect="equal",
    )
    for row, (data, label) in enumerate(
        ((clip.imu.gyro_rad_s, "gyro [rad/s]"), (clip.imu.accel_m_s2, "accel [m/s^2]"))
    ):
        ax = fig.add_subplot(grid[row, thumbs // 2 :])
        for k, axis in enumerate("xyz"):
            ax.plot(clip.imu.t_s, data[:, k], lw=0.6, label=axis)
        ax.set(xlabel="t [s]", ylabel=label)
        ax.legend(loc="upper right", fontsize=7)
    n = len(clip.frames)
    for k, i in enumerate(np.linspace(0, n - 1, thumbs).astype(int) if n else []):
        ax = fig.add_subplot(grid[2, k])
        ax.imshow(clip.frames.read(int(i)))
        ax.set_title(f"frame {i} @ {clip.frames.t_s[i]:.1f} s", fontsize=8)
        ax.axis("off")
    fig.savefig(out, dpi=80)
    plt.close(fig)
    return out
