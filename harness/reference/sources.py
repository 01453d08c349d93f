"""Digests of the package's own source, for caches whose contents that code makes: a change to
the code makes the cache miss instead of serving what the old code made."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

import harness

PACKAGE = Path(harness.__file__).parent


def hash_sources(h: hashlib._Hash, names: Iterable[str], package: Path = PACKAGE) -> None:
    """Feed `h` each named file, or every .py under a named folder (sorted): its path relative
    to `package`, then its bytes."""
    for name in names:
        target = package / name
        files = sorted(target.rglob("*.py")) if target.is_dir() else [target]
        for path in files:
            h.update(str(path.relative_to(package)).encode())
            h.update(path.read_bytes())
