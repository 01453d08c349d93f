"""Atomic writes and build locks: every cache, checkpoint and export is written through here.

Parallel workers (xdist, several containers sharing a cache volume, two sessions) may make the
same file at once. `atomic_path` gives each writer its own temp name next to the target (a
random name, never a pid: pids repeat across containers, and never a seeded RNG: every worker
gets the same number) and renames it onto the target only when the write finished, so a
reader sees the old file, no file, or the whole new one; a failed write leaves nothing.
`build_lock` (filelock) makes the second worker wait for the first's build instead of doing
it again. Temp names all contain `.part-`, which the tests look for to prove none is left.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

TEMP_MARK = ".part-"


def temp_name(target: Path) -> Path:
    """A unique hidden sibling of `target` that keeps its suffix (np.save, onnx need it)."""
    return target.with_name(f".{target.name}{TEMP_MARK}{uuid.uuid4().hex[:12]}{target.suffix}")


@contextlib.contextmanager
def atomic_path(target: Path, inner_name: str | None = None) -> Iterator[Path]:
    """Write to the yielded path; it replaces `target` when the block ends without error.

    With `inner_name` the yielded path has that fixed name, in a unique hidden folder beside
    `target`: for writers that store their own file name in the file (torch.save does), so
    the bytes do not depend on where they are written.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(target)
    if inner_name is not None:
        tmp.mkdir()
    written = tmp / inner_name if inner_name is not None else tmp
    try:
        yield written
        os.replace(written, target)
    finally:
        if inner_name is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def write_bytes(target: Path, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text(target: Path, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


@contextlib.contextmanager
def atomic_dir(target: Path) -> Iterator[Path]:
    """Fill the yielded folder; it becomes `target` when the block ends without error. If
    another writer got there first, its folder (the same content) stays and ours goes."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}{TEMP_MARK}{uuid.uuid4().hex[:12]}")
    tmp.mkdir()
    try:
        yield tmp
        with contextlib.suppress(OSError):  # exists already: the other build won
            tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def build_lock(target: Path, timeout_s: float = 3600.0) -> Iterator[None]:
    """Hold `<target>.lock` while building `target`; re-check `target` inside the lock."""
    from filelock import FileLock

    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.with_name(f"{target.name}.lock")), timeout=timeout_s):
        yield
