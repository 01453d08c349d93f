"""What the project's `.cache` holds, by kind, and how it stays bounded.

Every cached thing is an entry: the files and folders of one folder that share a name up to
its first dot (an engine's `.xml`, `.bin`, `.parity.json`, compiled blobs and lock are one
entry). An entry's age is the time since its newest top-level file changed; code that reuses
an entry touches it (`touch`), so age means "not used for". Engines and descriptors, the
kinds that grow with every checkpoint and corpus, are evicted least recently used past a
bound (`HARNESS_CACHE_MAX_GB`, default DEFAULT_MAX_GB); `harness cache` lists and prunes
every kind.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError

# kind -> the folders (under the cache root, globs allowed) whose children are its entries.
KINDS: dict[str, tuple[str, ...]] = {
    "clips": ("synth", "synth/video", "synth/scene", "bundles", "recordings"),
    "corpora": ("corpora",),
    "stack-inputs": ("stack-input",),
    "descriptors": ("descriptors",),
    "engines": ("engines", "engines/openvino"),
    "features": ("conv",),
    "images": ("image",),
    "digests": ("digests",),
}
# Kinds that grow with every checkpoint, size and corpus: evicted past the bound.
BOUNDED = ("engines", "descriptors")
DEFAULT_MAX_GB = 4.0
LIMIT_ENV = "HARNESS_CACHE_MAX_GB"
# An entry used this recently may be in use by another worker: never evicted by the bound.
IN_USE_S = 600.0


@dataclass(frozen=True)
class Entry:
    kind: str
    key: str  # the shared name up to the first dot
    paths: tuple[Path, ...]
    bytes: int
    used: float  # epoch seconds: the newest top-level modification

    def age_s(self, now: float | None = None) -> float:
        return max(0.0, (time.time() if now is None else now) - self.used)

    def remove(self) -> None:
        for path in self.paths:
            _remove(path)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _key(name: str) -> str:
    return name.lstrip(".").split(".")[0]


def tree_bytes(path: Path, seen: set[tuple[int, int]]) -> int:
    """Bytes under `path`, each hard-linked file once (synth videos are linked, not copied)."""
    total = 0
    stack = [path]
    while stack:
        current = stack.pop()
        try:
            st = current.lstat()
        except FileNotFoundError:
            continue
        if current.is_dir() and not current.is_symlink():
            with contextlib.suppress(OSError):
                stack.extend(current.iterdir())
        elif (st.st_dev, st.st_ino) not in seen:
            seen.add((st.st_dev, st.st_ino))
            total += st.st_size
    return total


def _folders(root: Path, kind: str) -> list[Path]:
    found = []
    for pattern in KINDS[kind]:
        found.extend(p for p in sorted(root.glob(pattern)) if p.is_dir())
    return found


def _entry_folders(root: Path) -> set[Path]:
    return {folder for kind in KINDS for folder in _folders(root, kind)}


def entries(root: Path, kinds: Iterable[str] | None = None) -> list[Entry]:
    """The entries of `kinds` (all by default) under the cache root, oldest use first; what
    lies in the root outside every kind's folders is listed as kind `other`."""
    root = Path(root)
    if not root.is_dir():
        return []
    wanted = [*KINDS, "other"] if kinds is None else list(kinds)
    unknown = [k for k in wanted if k not in KINDS and k != "other"]
    if unknown:
        raise HarnessError(f"no cache kind {', '.join(unknown)}; kinds: {', '.join(KINDS)}")
    skip = _entry_folders(root)
    seen: set[tuple[int, int]] = set()
    found: list[Entry] = []
    groups = [(k, f) for k in wanted if k in KINDS for f in _folders(root, k)]
    if "other" in wanted:
        groups.append(("other", root))
    for kind, folder in groups:
        by_key: dict[str, list[Path]] = {}
        for child in sorted(folder.iterdir()):
            if child in skip:  # a kind's folder: its children are entries of their own
                continue
            by_key.setdefault(_key(child.name), []).append(child)
        for key, paths in by_key.items():
            used = max((_mtime(p) for p in paths), default=0.0)
            size = sum(tree_bytes(p, seen) for p in paths)
            found.append(Entry(kind, key, tuple(paths), size, used))
    return sorted(found, key=lambda e: e.used)


def _mtime(path: Path) -> float:
    try:
        return path.lstat().st_mtime
    except FileNotFoundError:
        return 0.0


def touch(*paths: Path) -> None:
    """Mark cached files as just used (their entry's age restarts; the bound keeps them)."""
    for path in paths:
        with contextlib.suppress(OSError):
            os.utime(path)


def limit_bytes() -> int:
    """The bound on the bounded kinds: HARNESS_CACHE_MAX_GB, or DEFAULT_MAX_GB."""
    text = os.environ.get(LIMIT_ENV, "").strip()
    if not text:
        return int(DEFAULT_MAX_GB * 1e9)
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also refuses NaN
        raise HarnessError(f"{LIMIT_ENV}={text!r}: give a size in GB, e.g. {LIMIT_ENV}=4")
    return int(value * 1e9)


def bound(root: Path, limit: int | None = None, now: float | None = None) -> list[Entry]:
    """Evict the least recently used engines and descriptors until they fit in `limit` bytes
    (default `limit_bytes()`), sparing entries used in the last IN_USE_S; the evicted."""
    limit = limit_bytes() if limit is None else limit
    now = time.time() if now is None else now
    found = entries(root, BOUNDED)
    total = sum(e.bytes for e in found)
    evicted = []
    for entry in found:  # oldest use first
        if total <= limit:
            break
        if entry.age_s(now) < IN_USE_S:
            continue
        entry.remove()
        total -= entry.bytes
        evicted.append(entry)
    return evicted


def replace_older(folder: Path, prefix: str, current: str) -> list[Path]:
    """Remove what `folder` holds under key `prefix` or `prefix-...` other than `current` (an
    engine built by an older recipe, once the new one is built); the removed paths."""
    gone = []
    for child in sorted(Path(folder).iterdir()):
        key = _key(child.name)
        ours = key == prefix or key.startswith(f"{prefix}-")
        if ours and key != current and not child.name.startswith("."):
            _remove(child)
            gone.append(child)
    return gone


def select(
    found: list[Entry],
    *,
    older_than_s: float | None = None,
    keep_last: int | None = None,
    everything: bool = False,
    now: float | None = None,
) -> Iterator[Entry]:
    """The entries a prune removes: all, or those older than `older_than_s` and not among
    their kind's `keep_last` most recently used (either rule alone, or both)."""
    if everything:
        yield from found
        return
    kept: set[int] = set()
    if keep_last is not None:
        by_kind: dict[str, list[Entry]] = {}
        for entry in found:
            by_kind.setdefault(entry.kind, []).append(entry)
        for group in by_kind.values():
            newest = sorted(group, key=lambda e: e.used, reverse=True)[:keep_last]
            kept.update(id(e) for e in newest)
    for entry in found:
        if id(entry) in kept:
            continue
        if older_than_s is None or entry.age_s(now) > older_than_s:
            yield entry
