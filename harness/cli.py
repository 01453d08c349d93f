"""`harness`: the command line. Each part registers its command group from its own cli module.

A stack under test adds its own commands (ours: `harness provision ...`) through the
`harness.commands` entry-point group, so the framework never imports a stack.

Known errors (HarnessError) print one line and exit 1; anything else keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from importlib.metadata import entry_points

from harness.errors import HarnessError

# Modules with `register(groups: CommandGroups)`.
COMMAND_MODULES = (
    "harness.scenario.cli",
    "harness.gates.cli",
    "harness.clip.cli",
    "harness.runners.cli",
    "harness.history.cli",
    "harness.report.cli",
    "harness.history.surprises_cli",
)


class CommandGroups:
    """`harness GROUP COMMAND`: groups are shared, so two parts may add commands to one."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self._top = parser.add_subparsers(dest="group", metavar="GROUP", required=True)
        self._groups: dict[str, argparse._SubParsersAction] = {}

    def group(self, name: str, help: str) -> argparse._SubParsersAction:
        if name not in self._groups:
            parser = self._top.add_parser(name, help=help, description=help)
            self._groups[name] = parser.add_subparsers(
                dest="command", metavar="COMMAND", required=True
            )
        return self._groups[name]

    def command(self, name: str, help: str) -> argparse.ArgumentParser:
        """A top-level command with no group (`harness replay BUNDLE`)."""
        return self._top.add_parser(name, help=help, description=help)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    groups = CommandGroups(parser)
    for module in COMMAND_MODULES:
        importlib.import_module(module).register(groups)
    for ep in sorted(entry_points(group="harness.commands"), key=lambda ep: ep.name):
        ep.load()(groups)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return int(args.func(args) or 0)
    except HarnessError as exc:
        print(f"harness: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
