"""sha256 of files: one helper for checkpoints, programs, clips and bundles alike."""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path

from harness import atomic


def file_digest(path: Path, memo_dir: Path | None = None) -> str:
    """sha256 of a file. With `memo_dir`, a digest is reused while the file's size, mtime and
    inode are unchanged, so a multi-GB video is hashed once, not on every load."""
    path = Path(path)
    st = path.stat()
    stamp = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino}
    memo = None
    if memo_dir is not None:
        key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:32]
        memo = memo_dir / "digests" / f"{key}.json"
        with contextlib.suppress(OSError, ValueError):
            known = json.loads(memo.read_text())
            if known["stamp"] == stamp:
                return known["sha256"]
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    if memo is not None:
        with contextlib.suppress(OSError):  # a memo is an optimisation, never a failure
            memo.parent.mkdir(parents=True, exist_ok=True)
            atomic.write_text(memo, json.dumps({"stamp": stamp, "sha256": digest}))
    return digest
