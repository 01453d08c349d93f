"""`harness cache list | prune`: what the project's .cache holds (clips, corpora, descriptors,
engines, images, ...), its sizes and ages, and removing what is no longer wanted."""

from __future__ import annotations

import argparse
import re
import time
from pathlib import Path

from harness.errors import HarnessError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def duration_s(text: str) -> float:
    """'90s', '30m', '12h', '7d', '2w' (a bare number is days) -> seconds."""
    found = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text)
    if not found:
        raise argparse.ArgumentTypeError(f"{text!r}: give an age like 12h, 7d or 2w")
    return float(found[1]) * _UNITS[found[2] or "d"]


def count(text: str) -> int:
    if not text.strip().isdigit():
        raise argparse.ArgumentTypeError(f"{text!r}: give a whole number of entries, 0 or more")
    return int(text)


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def _age(seconds: float) -> str:
    for unit, span in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= span:
            return f"{seconds / span:.0f}{unit}"
    return f"{seconds:.0f}s"


def _root(args: argparse.Namespace) -> Path:
    if args.cache_dir is not None:
        return args.cache_dir
    from harness.scenario.load import project_root

    return project_root(Path.cwd()) / ".cache"


def run_list(args: argparse.Namespace) -> int:
    from harness import cache

    root, now = _root(args), time.time()
    found = cache.entries(root, args.kind)
    if args.entries:
        for e in sorted(found, key=lambda e: (e.kind, -e.used)):
            print(f"{e.kind:<13} {_size(e.bytes):>10} {_age(e.age_s(now)):>5}  {e.key}")
        return 0
    print(f"{root}: {_size(sum(e.bytes for e in found))} in {len(found)} entries")
    print(f"{'kind':<13} {'entries':>7} {'size':>10} {'newest':>6} {'oldest':>6}")
    for kind in dict.fromkeys(e.kind for e in sorted(found, key=lambda e: e.kind)):
        group = [e for e in found if e.kind == kind]
        newest = min(e.age_s(now) for e in group)
        oldest = max(e.age_s(now) for e in group)
        size = _size(sum(e.bytes for e in group))
        print(f"{kind:<13} {len(group):>7} {size:>10} {_age(newest):>6} {_age(oldest):>6}")
    limit = cache.limit_bytes()
    bounded = sum(e.bytes for e in found if e.kind in cache.BOUNDED)
    print(
        f"engines and descriptors: {_size(bounded)} of a {limit / 1e9:g} GB bound "
        f"({cache.LIMIT_ENV}; least recently used evicted past it)"
    )
    return 0


def run_prune(args: argparse.Namespace) -> int:
    from harness import cache

    if not (args.all or args.older_than is not None or args.keep_last is not None):
        raise HarnessError("say what to prune: --older-than AGE, --keep-last N or --all")
    root = _root(args)
    found = cache.entries(root, args.kind)
    doomed = list(
        cache.select(
            found, older_than_s=args.older_than, keep_last=args.keep_last, everything=args.all
        )
    )
    verb = "would remove" if args.dry_run else "removed"
    for entry in doomed:
        if not args.dry_run:
            entry.remove()
        print(f"{verb} {entry.kind} {entry.key} ({_size(entry.bytes)})")
    freed = _size(sum(e.bytes for e in doomed))
    print(f"{verb} {len(doomed)} of {len(found)} entries, {freed}, from {root}")
    return 0


def register(groups) -> None:
    """Add `harness cache ...` (groups: harness.commands.main.CommandGroups)."""
    from harness.cache import KINDS

    sub = groups.group("cache", "what .cache holds: sizes, ages, pruning")
    kinds = [*KINDS, "other"]

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--cache-dir", type=Path, help="the cache folder (default: the project's .cache)"
        )
        p.add_argument("--kind", action="append", choices=kinds, help="only this kind (repeatable)")

    p = sub.add_parser("list", help="each kind's entries, size and ages (newest, oldest use)")
    common(p)
    p.add_argument("--entries", action="store_true", help="one line per entry")
    p.set_defaults(func=run_list)

    p = sub.add_parser("prune", help="remove cached entries (each is rebuilt when next needed)")
    common(p)
    p.add_argument(
        "--older-than", type=duration_s, metavar="AGE", help="not used for AGE (12h, 7d, 2w)"
    )
    p.add_argument(
        "--keep-last",
        type=count,
        metavar="N",
        help="keep each kind's N most recently used entries (with --older-than: and those)",
    )
    p.add_argument("--all", action="store_true", help="remove every entry (of --kind)")
    p.add_argument("--dry-run", action="store_true", help="list what would go, remove nothing")
    p.set_defaults(func=run_prune)
