"""Provenance of a run: what code, inputs and machine produced it (the condition line's hashes)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import harness


def git_sha(root: Path) -> str | None:
    """The project's commit; containers get it from HARNESS_GIT_SHA (they have no .git)."""
    if sha := os.environ.get("HARNESS_GIT_SHA"):
        return sha
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() or None


def device() -> str:
    """What ran the model; on a farm board, prefixed by the board (HARNESS_DEVICE, the place
    name) so that results and the ledger keep two boards of one model apart."""
    import torch

    accel = f"cuda:{torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else "cpu"
    board = os.environ.get("HARNESS_DEVICE")
    return f"{board}/{accel}" if board else accel


def version_of(dist: str) -> str | None:
    """An installed distribution's version, read from its metadata (nothing is imported)."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def base(root: Path, runner: str) -> dict[str, Any]:
    return {
        "git_sha": git_sha(root),
        "runner": runner,
        "host": platform.node(),
        "device": device(),
        "image_digest": os.environ.get("HARNESS_IMAGE_DIGEST"),
        "versions": {
            "harness": harness.__version__,
            "python": sys.version.split()[0],
            "torch": version_of("torch"),
            "numpy": version_of("numpy"),
        },
    }
