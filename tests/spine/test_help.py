"""Every `--help` works: pytest's (with the plugin loaded), its markers and fixtures, and every
`harness` group and command. argparse formats each help string with `%`, so one bare `%` in
any of them crashes the whole page for everyone."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from harness.commands.main import build_parser


def _parsers(
    parser: argparse.ArgumentParser, prog: str
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield prog, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{prog} {name}")


def test_every_help_page_prints(tmp_path: Path) -> None:
    pages = dict(_parsers(build_parser(None), "harness"))  # None: every group, stacks' too
    assert {"harness gates check", "harness bisect", "harness provision"} <= set(pages)
    for prog, parser in pages.items():
        assert parser.format_help(), prog  # raises on a bad `%` in any help string
        # each page says what it is for, in whole words (a description cut mid-sentence ends
        # with a comma; one made of a docstring's first line is cut)
        assert parser.description, f"{prog} --help has no description"
        assert not parser.description.rstrip().endswith((",", ";", ":")), prog
    (tmp_path / "pyproject.toml").write_text("[tool.pytest.ini_options]\n")
    for flag, shows in (("--help", "--rerun-on-move"), ("--markers", "@pytest.mark"),
                        ("--fixtures", "fixtures defined from")):  # fmt: skip
        done = subprocess.run(
            [sys.executable, "-m", "pytest", flag],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0 and shows in done.stdout, (flag, done.stderr[-2000:])
    done = subprocess.run(
        [sys.executable, "-m", "harness.commands.main", "gates", "check", "--help"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 0 and "usage: harness gates check" in done.stdout, done.stderr
