"""The stash keys the plugin's modules share: per-session and per-item state (pytest's `stash`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    pass

RUNNER_NAME_KEY = pytest.StashKey[str]()
RUNNER_KEY = pytest.StashKey["Runner"]()  # made when the first scenario runs
# Per runner (a farm place's, or "" for the session's): its first preflight failure, or "".
PREFLIGHT_KEY = pytest.StashKey[dict[str, str]]()
VERDICT_KEY = pytest.StashKey["Verdict"]()
DECISION_KEY = pytest.StashKey["Decision"]()  # the verdict against `expect`: pytest outcome
DEVICE_KEY = pytest.StashKey[str]()  # the farm place a scenario ran on (its Allure device)
RUN_DIR_KEY = pytest.StashKey[Path]()
RUN_ID_KEY = pytest.StashKey[str]()
RUN_ID_OWNED_KEY = pytest.StashKey[bool]()  # this session made the id: drop it when done
NAMES_KEY = pytest.StashKey["dict[str, Loaded]"]()  # scenario name -> the file that has it
CANCEL_KEY = pytest.StashKey[bool]()  # SIGTERM handled as Ctrl-C (True: this plugin set it)
FIGURES_KEY = pytest.StashKey["FigureJobs"]()  # the runs' pictures, made in the background
