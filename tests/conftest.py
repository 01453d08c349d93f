"""Shared fixtures: a throwaway project (operator config + scenario files) for pytester runs,
and the guard that the suite never writes into the project's own reports/ (ledger, Allure
results, run folders)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

# pytester drops the modules a test imported when it ends, and extension modules cannot be
# initialised twice in one process: import those the runs load (torch as the CLI's command
# groups do, numpy's FFT and scipy's array API as the clip readers do) before any test.
import numpy.fft  # noqa: F401
import pytest
import scipy.spatial.transform  # noqa: F401
import torch  # noqa: F401

from tests.helpers import tree_changes, tree_snapshot

pytest_plugins = ["pytester"]

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session", autouse=True)
def project_reports_untouched() -> Iterator[None]:
    """Fails the session (an error at the last test's teardown) when any test wrote into
    the project's reports/: the framework's tests use throwaway projects and tmp paths,
    so the ledger that `harness gates check` reads holds the product's runs only."""
    reports = REPO / "reports"
    before = tree_snapshot(reports)
    yield
    changed = tree_changes(before, tree_snapshot(reports))
    assert not changed, (
        f"the test suite wrote into {reports}: {', '.join(changed[:10])}; give the test a "
        "tmp_path (--gate-ledger, --alluredir, --harness-runs) instead"
    )


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
