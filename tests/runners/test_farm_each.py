"""--farm-each-place without a farm: its usage errors, and the names it gives items."""

from __future__ import annotations

import pytest

from harness.history.ledger import on_place
from harness.pytest.crash import item_name
from harness.runners.farm import FarmOptions
from tests.helpers import scenario_text


def test_a_place_item_keeps_its_run_folder_under_loadgroup() -> None:
    node = "scenarios/p/empty.scenario.yaml::empty-backbones[board-1]"
    assert item_name(f"{node}@board-1") == "empty-backbones[board-1]"
    assert item_name(node) == "empty-backbones[board-1]"
    assert item_name("s.scenario.yaml::a@b") == "a@b"  # not a group suffix: kept


def test_a_pinned_runner_asks_for_its_place_by_name() -> None:
    options = FarmOptions("lab:20408", {"board": "orin"}).pinned("jetson-07")
    assert options.tags == {"board": "orin", "name": "jetson-07"}
    assert options.place == "jetson-07"


def test_a_row_is_on_its_place_with_or_without_the_accelerator() -> None:
    assert on_place("board-1/cpu", "board-1") and on_place("board-1", "board-1")
    assert not on_place("board-10/cpu", "board-1") and not on_place(None, "board-1")


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--farm-each-place"], "name the places with --farm-tags"),
        (
            ["--farm-each-place", "--farm-tags", "pool=x", "--lg-coordinator", "127.0.0.1:9"],
            "no labgrid coordinator answers at 127.0.0.1:9",
        ),
    ],
)
def test_usage_errors_name_the_option(
    project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, args: list[str], says: str
) -> None:
    pytest.importorskip("labgrid")
    project.makefile(".scenario.yaml", a=scenario_text("a", "empty-backbones"))
    if "--lg-coordinator" in args:  # labgrid's plugin is off here: its variable instead
        args = args[:-2]
        monkeypatch.setenv("LG_COORDINATOR", "127.0.0.1:9")
    done = project.runpytest_subprocess(*args, "--gate-ledger", "none")
    assert done.ret == pytest.ExitCode.USAGE_ERROR
    err = done.stderr.str()
    assert says in err and "Traceback" not in err, err
