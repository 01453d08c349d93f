"""An instant harness: the plugin every pytest session loads, `harness --help` and `harness
scenario lint` import no torch, matplotlib or docker (bench/import_bench.py has the figures)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "matplotlib", "docker")
PROBE = """
import contextlib, json, sys
{code}
print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}})))
"""


def loaded_after(code: str) -> set[str]:
    """Top-level packages in sys.modules after `code` runs in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", PROBE.format(code=code)],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def cli(*args: str) -> str:
    return (
        "from harness.commands.main import main\n"
        "with contextlib.redirect_stdout(sys.stderr), contextlib.suppress(SystemExit):\n"
        f"    main({list(args)!r})"
    )


def test_the_entry_point_imports_nothing() -> None:
    # Every pytest session in the environment imports it; pytest itself loads what it names.
    loaded = loaded_after("import harness.pytest")
    assert "harness" in loaded  # the probe sees real imports
    assert not loaded & {"pytest", "numpy", "pydantic", "yaml", "ruamel"}


def test_the_plugins_load_no_heavy_package() -> None:
    from harness.pytest import pytest_plugins

    loaded = loaded_after("import " + ", ".join(pytest_plugins))
    assert "harness" in loaded and "pytest" in loaded  # the probe sees real imports
    assert not loaded & {*HEAVY, "numpy", "pydantic", "scipy"}, "lazy-import them in the hooks"


@pytest.mark.parametrize(
    "args",
    [("--help",), ("scenario", "lint", "scenarios/process/ring-stack.scenario.yaml")],
    ids=["help", "lint"],
)
def test_the_command_line_loads_no_heavy_package(args: tuple[str, ...]) -> None:
    loaded = loaded_after(cli(*args))
    assert not loaded & set(HEAVY)
    if args[0] == "scenario":
        assert "pydantic" in loaded  # the lint really ran


def test_help_still_lists_every_group() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "harness.commands.main", "--help"],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        check=True,
    )
    for group in ("scenario", "gates", "clip", "runner", "report", "provision"):
        assert f"    {group} " in done.stdout
