"""Shared fixtures: a throwaway project (operator config + scenario files) for pytester runs."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def extensions_loaded() -> None:
    """torch and numpy, imported before pytester snapshots sys.modules: a run with the
    inprocess runner imports the reference stack, pytester drops whatever an inline session
    imported, and a C extension like torch crashes when imported a second time in a process.
    (The harness itself imports torch only when a stack needs it.)"""
    import numpy  # noqa: F401
    import torch  # noqa: F401


@pytest.fixture
def project(extensions_loaded: None, pytester: pytest.Pytester) -> pytest.Pytester:
    """A project root with the real operator config and a pyproject marker."""
    pytester.makefile(".toml", pyproject="[tool.pytest.ini_options]\n")
    config = (REPO / "configs" / "operator_replay.yaml").read_text()
    (pytester.path / "configs").mkdir()
    (pytester.path / "configs" / "operator_replay.yaml").write_text(config)
    return pytester
