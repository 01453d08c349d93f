"""`harness runner build-image | preflight | sweep`: the container runner's commands."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def build_image(args: argparse.Namespace) -> int:
    from harness.runners import image

    result = image.build(args.root.resolve(), force=args.force, mirror=args.mirror)
    how = "cached (no-op)" if result.cached else f"built {'+'.join(result.steps)}"
    print(f"{result.tag} {result.image_id} {how} in {result.seconds:.1f} s")
    return 0


def preflight(args: argparse.Namespace) -> int:
    from harness.runners.docker import DockerRunner

    runner = DockerRunner.from_options(
        root=args.root.resolve(), jetson=args.jetson, jetson_host=args.jetson_host
    )
    runner.preflight()
    print(json.dumps(runner.describe(), indent=2))
    return 0


def sweep(args: argparse.Namespace) -> int:
    from harness.runners.docker import sweep_stale

    removed = sweep_stale(all_sessions=args.all)
    print(f"removed {len(removed)} container(s): {' '.join(removed)}".rstrip(": "))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add `runner ...` to the top-level `harness` parser."""
    runner = subparsers.add_parser("runner", help="the e2e-runner container: image, checks")
    sub = runner.add_subparsers(dest="runner_command", required=True)

    p = sub.add_parser("build-image", help="build the CPU e2e-runner image (no registry)")
    p.add_argument("--root", type=Path, default=Path("."), help="project checkout")
    p.add_argument("--force", action="store_true", help="rebuild even if the tag exists")
    p.add_argument("--mirror", help="Debian mirror for debootstrap")
    p.set_defaults(func=build_image)

    p = sub.add_parser("preflight", help="check engine, image, runtime and mounts")
    p.add_argument("--root", type=Path, default=Path("."), help="project checkout")
    p.add_argument("--jetson", action="store_true", help="check the Jetson target")
    p.add_argument("--jetson-host", help="the board's engine, e.g. ssh://user@jetson")
    p.set_defaults(func=preflight)

    p = sub.add_parser("sweep", help="remove containers left by dead sessions")
    p.add_argument("--all", action="store_true", help="also those of live sessions")
    p.set_defaults(func=sweep)


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry (`python -m harness.runners.cli`) until harness.cli calls register."""
    from harness.errors import HarnessError

    parser = argparse.ArgumentParser(prog="harness")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except HarnessError as exc:
        print(f"harness: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
