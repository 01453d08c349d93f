"""Provenance of a run: what code, inputs and machine produced it (the condition line's hashes)."""

from __future__ import annotations

import hashlib
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


def _git(root: Path, *args: str) -> bytes | None:
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout if out.returncode == 0 else None


def worktree_hash(root: Path) -> str | None:
    """A sha256 of the uncommitted changes (tracked diffs and untracked, not ignored files).

    None for a clean checkout (or no git). Part of a run's identity: a rerun at the same
    commit with different uncommitted code is a different system under test, so a gate
    that moved between them is a regression candidate, not flakiness. Containers get it
    from HARNESS_WORKTREE_HASH (they have no .git).
    """
    if "HARNESS_WORKTREE_HASH" in os.environ:
        return os.environ["HARNESS_WORKTREE_HASH"] or None
    diff = _git(root, "diff", "HEAD", "--binary", "--no-ext-diff")
    untracked = _git(root, "ls-files", "--others", "--exclude-standard", "-z")
    if diff is None or untracked is None:
        return None
    if not diff and not untracked:
        return None
    digest = hashlib.sha256(diff)
    for name in sorted(n for n in untracked.split(b"\0") if n):
        digest.update(b"\0" + name + b"\0")
        path = root / os.fsdecode(name)
        if path.is_file():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def artifacts(declared: list[dict[str, Any]]) -> dict[str, Any]:
    """The provenance keys of what a stack declared it provisions (`RunContext.artifact`):
    all of them, the first checkpoint's sha256, and whether every checkpoint was pinned."""
    checkpoints = [a for a in declared if a.get("kind") == "checkpoint"]
    unpinned = [a for a in checkpoints if not a.get("pinned")]
    return {
        "artifacts": declared,
        "checkpoint_sha256": checkpoints[0].get("sha256") if checkpoints else None,
        "checkpoint_pinned": not unpinned if checkpoints else None,
        "unpinned": [str(a.get("path")) for a in unpinned],
        "pin_hint": next((a.get("pin_hint") for a in unpinned if a.get("pin_hint")), None),
    }


def device() -> str:
    """What ran the model; on a farm board, prefixed by the board (HARNESS_DEVICE, the place
    name) so that results and the ledger keep two boards of one model apart.

    Asked once the stack has provisioned: torch is asked only when the stack imported it (a
    run without a model, such as the oracle strategy's, ran on the CPU and never loads it)."""
    torch = sys.modules.get("torch")
    cuda = torch is not None and torch.cuda.is_available()
    accel = f"cuda:{torch.cuda.get_device_name(0)}" if cuda else "cpu"
    board = os.environ.get("HARNESS_DEVICE")
    return f"{board}/{accel}" if board else accel


def version_of(dist: str) -> str | None:
    """An installed distribution's version, read from its metadata (nothing is imported)."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def base(root: Path, runner: str) -> dict[str, Any]:
    """What is known before the run; `device` comes with the condition line."""
    return {
        "git_sha": git_sha(root),
        "worktree_hash": worktree_hash(root),
        "runner": runner,
        "host": platform.node(),
        "image_digest": os.environ.get("HARNESS_IMAGE_DIGEST"),
        "versions": {
            "harness": harness.__version__,
            "python": sys.version.split()[0],
            "torch": version_of("torch"),
            "numpy": version_of("numpy"),
        },
    }
