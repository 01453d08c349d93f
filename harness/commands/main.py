"""`harness`: the command line. Each part registers its command group from its own cli module,
imported only when its group is asked for.

A stack under test adds its own commands (ours: `harness provision ...`) through the
`harness.commands` entry-point group, so the framework never imports a stack.

Known errors (HarnessError) print one line and exit 1; anything else keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from harness.errors import HarnessError

# Each group with its help and the modules whose `register(groups: CommandGroups)` add its
# commands. A module is imported only when its group is named on the command line, so
# `harness --help` imports none of them (numpy, pydantic, torch stay out).
GROUPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "scenario": ("check and describe scenario files", ("harness.commands.scenario",)),
    "gates": (
        "gate verdicts: ratchet, transitions, Tier-2 check",
        ("harness.commands.gates",),
    ),
    "clip": ("make, inspect, plot and import clip bundles", ("harness.commands.clip",)),
    "runner": ("the e2e-runner container: image, checks, cleanup", ("harness.commands.runner",)),
    "report": ("the Allure HTML report", ("harness.commands.report",)),
    "stack": (
        "a process stack's input folder and a check of its output",
        ("harness.commands.stack",),
    ),
    "cache": ("what .cache holds: sizes, ages, pruning", ("harness.commands.cache",)),
}
# Top-level commands with no group: name -> (help, the module whose `register` adds them).
COMMANDS: dict[str, tuple[str, str]] = {
    "replay": ("run a failure bundle again", "harness.commands.rerun"),
    "bisect": ("find the commit that moved a scenario's gate down", "harness.commands.rerun"),
}
# A stack's `harness.commands` entry point named GROUP or GROUP-PART adds commands to its own
# GROUP (a built-in group is not scanned for them: `harness scenario ...` reads no metadata).
ENTRY_POINTS = "harness.commands"
DESCRIPTION = (
    "End-to-end gates for a GPS-denied navigation stack: scenarios, verdicts, clips, runners "
    "and reports (run the scenarios themselves with pytest)."
)


class CommandGroups:
    """`harness GROUP COMMAND`: groups are shared, so two parts may add commands to one."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self._top = parser.add_subparsers(dest="group", metavar="GROUP", required=True)
        self._groups: dict[str, argparse._SubParsersAction] = {}
        self._commands: dict[str, argparse.ArgumentParser] = {}

    def group(self, name: str, help: str) -> argparse._SubParsersAction:
        if name not in self._groups:
            parser = self._top.add_parser(name, help=help, description=help)
            self._groups[name] = parser.add_subparsers(
                dest="command", metavar="COMMAND", required=True
            )
        return self._groups[name]

    def command(self, name: str, help: str) -> argparse.ArgumentParser:
        """A top-level command with no group (`harness replay BUNDLE`)."""
        if name not in self._commands:
            self._commands[name] = self._top.add_parser(name, help=help, description=help)
        self._commands[name].description = help
        return self._commands[name]


def _group_named(argv: list[str]) -> str | None:
    """The group the command line asks for: its first word that is not an option."""
    return next((a for a in argv if not a.startswith("-")), None)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; only the named group's modules are imported (all of them when argv is
    None: e.g. for documentation)."""
    parser = argparse.ArgumentParser(prog="harness", description=DESCRIPTION)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    groups = CommandGroups(parser)
    wanted = _group_named(argv) if argv is not None else None
    for name, (help, modules) in GROUPS.items():
        groups.group(name, help)
        if argv is None or name == wanted:
            for module in modules:
                importlib.import_module(module).register(groups)
    loaded: set[str] = set()
    for name, (help, module) in COMMANDS.items():
        groups.command(name, help)
        if (argv is None or name == wanted) and module not in loaded:
            loaded.add(module)
            importlib.import_module(module).register(groups)
    if wanted not in GROUPS and wanted not in COMMANDS:  # a built-in reads no metadata
        from importlib.metadata import entry_points

        for ep in sorted(entry_points(group=ENTRY_POINTS), key=lambda ep: ep.name):
            name = ep.name.split("-")[0]
            groups.group(name, f"commands of a stack under test ({ep.value.split(':')[0]})")
            if argv is None or name == wanted:
                ep.load()(groups)
    _describe(parser)
    return parser


def _describe(parser: argparse.ArgumentParser) -> None:
    """Every command's --help opens with its one-line help, where it has no description."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help for a in action._choices_actions}
            for name, sub in action.choices.items():
                sub.description = sub.description or helps.get(name)
                _describe(sub)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
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
