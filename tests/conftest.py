"""Shared fixtures: a throwaway project (operator config + scenario files) for pytester runs."""

from __future__ import annotations

from pathlib import Path

import pytest

# pytester drops the modules a test imported when it ends, and torch's extension cannot be
# initialised twice in one process: import it (as the CLI's command groups do) before any test.
import torch  # noqa: F401

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture
def pytester(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    """pytester, without labgrid's pytest plugin (installed with the farm): it starts a
    process-global logger once, so a session inside this one must not load it again."""
    monkeypatch.setenv("PYTEST_ADDOPTS", "-p no:labgrid")
    return pytester


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project root with the real operator config and a pyproject marker."""
    pytester.makefile(".toml", pyproject="[tool.pytest.ini_options]\n")
    config = (REPO / "configs" / "operator_replay.yaml").read_text()
    (pytester.path / "configs").mkdir()
    (pytester.path / "configs" / "operator_replay.yaml").write_text(config)
    return pytester
