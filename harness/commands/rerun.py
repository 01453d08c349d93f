"""`harness replay BUNDLE` and `harness bisect --good REV --bad REV SCENARIO`."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from harness.errors import HarnessError
from harness.history.ledger import DEFAULT_LEDGER
from harness.rerun import replay as rp


def register(groups) -> None:
    p = groups.command(
        "replay",
        "run a failure bundle again; exit 0 reproduced, 1 the verdict differs, 2 cannot replay",
    )
    p.add_argument("bundle", type=Path, help="a reports/failures/*.tar.gz file")
    p.add_argument(
        "--root",
        type=Path,
        action="append",
        default=[],
        help="a project holding inputs the bundle left out (checkpoints, clip bundles); "
        "repeatable; the bundle's own project root is searched last",
    )
    p.add_argument(
        "--workdir",
        type=Path,
        help="unpack and run here, kept afterwards (default: a temporary folder, removed at exit)",
    )
    p.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (the replay's record)"
    )
    p.add_argument("--cache-dir", type=Path, help="clip and corpus cache (default: in workdir)")
    p.add_argument(
        "--runner",
        choices=("local", "docker"),
        default="local",
        help="where the replay runs (docker: this host's engine)",
    )
    p.add_argument("--jetson", action="store_true", help="run it on a Jetson's Docker engine")
    p.add_argument("--jetson-host", metavar="URL", help="the board's engine, ssh://user@board")
    p.add_argument("--timeout", type=float, help="seconds (default: the scenario's timeout_s)")
    p.set_defaults(func=run_replay)

    from harness.rerun import bisect as bs

    p = groups.command(
        "bisect",
        "find the commit that moved a scenario's gate down (git bisect run); exit 0 when found",
    )
    p.add_argument("scenario", type=Path, help="the scenario file, relative to the repository")
    p.add_argument("--good", required=True, help="a revision where the gate was good")
    p.add_argument("--bad", required=True, help="a revision where the gate is worse")
    p.add_argument("--repo", type=Path, default=Path("."), help="the git repository (default .)")
    p.add_argument("--ledger", type=Path, help=f"where steps land (default REPO/{DEFAULT_LEDGER})")
    p.add_argument(
        "--link",
        action="append",
        default=None,
        help="git-ignored folders the runs need, linked into the bisect worktree "
        f"(default: {', '.join(bs.DEFAULT_LINKS)} when present)",
    )
    p.add_argument(
        "--reuse-models",
        action="store_true",
        help="link today's models/ into every commit instead of making each commit's own "
        "(faster; every step then says it judged with today's checkpoints)",
    )
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds per step (default 1800)")
    p.set_defaults(func=run_bisect)


def run_replay(args: argparse.Namespace) -> int:
    """Replay in `--workdir`, or in a temporary folder removed at exit unless `--keep`."""
    if args.workdir is not None:
        return _replay(args, args.workdir, kept=True)
    workdir = Path(tempfile.mkdtemp(prefix="harness-replay-"))
    try:
        return _replay(args, workdir, kept=args.keep)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


def _replay(args: argparse.Namespace, workdir: Path, kept: bool) -> int:
    runner = "jetson" if args.jetson or args.jetson_host else args.runner
    try:
        result = rp.replay(
            args.bundle,
            workdir=workdir,
            roots=[r.resolve() for r in args.root] + [Path.cwd()],
            cache_dir=args.cache_dir,
            runner_name=runner,
            jetson_host=args.jetson_host,
            timeout_s=args.timeout,
        )
    except HarnessError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return rp.CANNOT
    except OSError as exc:  # the work folder: read-only, full disk
        print(f"harness: error: {exc}; choose another --workdir", file=sys.stderr)
        return rp.CANNOT
    o, r = result.original, result.replayed
    if kept:
        print(f"unpacked: {result.workdir} (the replay's record is in replay/)")
    else:
        print("unpacked in a temporary folder, removed at exit (--keep or --workdir keeps it)")
    print(f"bundle:   {o.gate} ({o.outcome}): {o.reason}")
    print(f"replayed: {r.gate} ({r.outcome}): {r.reason}")
    if result.reproduced:
        print("reproduced")
    else:
        print("not reproduced:")
        for line in result.differences:
            print(f"  {line}")
    for line in result.notes:
        print(f"  note: {line}")
    return result.exit_code


def run_bisect(args: argparse.Namespace) -> int:
    from harness.rerun import bisect as bs

    result = bs.bisect(
        args.repo,
        args.scenario,
        args.good,
        args.bad,
        ledger=args.ledger,
        links=args.link,
        timeout_s=args.timeout,
        reuse_models=args.reuse_models,
    )
    print(result.summary())
    return 0 if result.first_bad else 1
