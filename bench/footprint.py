"""The disk a checkout's scenarios leave: `.cache` by kind and `models/` by folder, and their
sum against the 2.5 GB a cold `pytest scenarios/` may leave (prints figures, asserts nothing).

    python bench/footprint.py            # what is there now
    python bench/footprint.py --cold     # rm -rf .cache models, run pytest scenarios/, then measure

`--cold` deletes this checkout's caches and models first (minutes: the scenarios rebuild the
checkpoints, train the default one and render the stand-in clips).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness import cache  # noqa: E402

BUDGET = 2.5e9  # bytes a cold run of pytest scenarios/ may leave in .cache and models/


def _mb(n: int) -> str:
    return f"{n / 1e6:8.1f} MB"


def measure() -> int:
    """Print each kind of .cache and each folder of models/; the total in bytes."""
    total = 0
    print(".cache")
    found = cache.entries(ROOT / ".cache")
    for kind in sorted({e.kind for e in found}):
        size = sum(e.bytes for e in found if e.kind == kind)
        count = sum(1 for e in found if e.kind == kind)
        print(f"  {kind:<14} {_mb(size)}  ({count} entries)")
        total += size
    print("models")
    seen: set[tuple[int, int]] = set()
    models = ROOT / "models"
    for folder in sorted(models.iterdir()) if models.is_dir() else ():
        size = cache.tree_bytes(folder, seen)
        print(f"  {folder.name:<14} {_mb(size)}")
        total += size
    verdict = "within" if total <= BUDGET else "OVER"
    print(f"total            {_mb(total)}  ({verdict} the {BUDGET / 1e9:g} GB of a cold run)")
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cold", action="store_true", help="empty, run the scenarios, measure")
    args = parser.parse_args()
    if args.cold:
        for name in (".cache", "models"):
            shutil.rmtree(ROOT / name, ignore_errors=True)
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "scenarios/", "-q", "-p", "no:cacheprovider"],
            cwd=ROOT,
        )
        print(f"pytest scenarios/: exit {done.returncode} in {time.perf_counter() - started:.0f} s")
    measure()


if __name__ == "__main__":
    main()
