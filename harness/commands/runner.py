"""`harness runner build-image | preflight | sweep`: the container runner's commands."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def build_image(args: argparse.Namespace) -> int:
    from harness.runners import image

    if args.context_only:
        ctx = image.export_context(args.root.resolve(), args.context_only, args.target)
        print(f"build context for {args.target} in {ctx}")
        return 0
    result = image.build(args.root.resolve(), force=args.force, mirror=args.mirror)
    how = "cached (no-op)" if result.cached else f"built {'+'.join(result.steps)}"
    print(f"{result.tag} {result.image_id} {how} in {result.seconds:.1f} s")
    return 0


def preflight(args: argparse.Namespace) -> int:
    from harness.runners.jetson import container_runner

    jetson = args.jetson or bool(args.jetson_host)
    runner = container_runner(args.root.resolve(), jetson, args.jetson_host)
    runner.preflight()
    print(json.dumps(runner.describe(), indent=2))
    return 0


def sweep(args: argparse.Namespace) -> int:
    from harness.runners.docker import sweep_stale

    removed = sweep_stale(all_sessions=args.all)
    print(f"removed {len(removed)} container(s): {' '.join(removed)}".rstrip(": "))
    return 0


def register(groups) -> None:
    """Add `harness runner ...` (groups: harness.commands.main.CommandGroups)."""
    sub = groups.group("runner", "the e2e-runner container: image, checks, cleanup")

    p = sub.add_parser("build-image", help="build the CPU e2e-runner image (no registry)")
    p.add_argument("--root", type=Path, default=Path("."), help="project checkout")
    p.add_argument("--force", action="store_true", help="rebuild even if the tag exists")
    p.add_argument("--mirror", help="Debian mirror for debootstrap")
    p.add_argument(
        "--context-only",
        type=Path,
        metavar="DIR",
        help="only write a build context (Dockerfile, wheels, project stub) to DIR, for "
        "`docker compose -f docker-compose.test.jetson.yml build` on the board",
    )
    p.add_argument(
        "--target",
        choices=["jetson", "cpu"],
        default="jetson",
        help="platform of the wheels for --context-only (default jetson)",
    )
    p.set_defaults(func=build_image)

    p = sub.add_parser("preflight", help="check engine, image, runtime and mounts")
    p.add_argument("--root", type=Path, default=Path("."), help="project checkout")
    p.add_argument("--jetson", action="store_true", help="check the Jetson target")
    p.add_argument("--jetson-host", help="the board's engine, e.g. ssh://user@jetson")
    p.set_defaults(func=preflight)

    p = sub.add_parser("sweep", help="remove containers left by dead sessions")
    p.add_argument("--all", action="store_true", help="also those of live sessions")
    p.set_defaults(func=sweep)
