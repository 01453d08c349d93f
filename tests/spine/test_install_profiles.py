"""Install profiles: `pip install .` is the framework alone, `.[reference]` adds our stack.

The framework must run a black-box stack with none of our stack's dependencies; our stack on
such an install says which line installs them. Here "not installed" is simulated for real
subprocesses (the run driver's too): a sitecustomize puts a finder first on sys.meta_path that
finds none of the extras' modules, as on a bare install.
scripts/check-bare-install proves the same with a real fresh venv (run by .ci/run).
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import tomllib
from pathlib import Path

import pytest

import harness
from harness.reference import extra

REPO = Path(__file__).resolve().parents[2]
PACKAGE = Path(harness.__file__).parent
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
# Import names of the geotiff extra's distributions.
GEOTIFF = ("rasterio", "pyproj", "morecantile")
HEAVY = (*extra.MODULES, *GEOTIFF)


def _dist(requirement: str) -> str:
    return re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower()


def test_the_reference_check_names_every_module_of_its_extra() -> None:
    assert sorted(map(_dist, PROJECT["optional-dependencies"]["reference"])) == sorted(
        extra.MODULES
    )
    assert sorted(map(_dist, PROJECT["optional-dependencies"]["geotiff"])) == sorted(GEOTIFF)


def test_the_framework_alone_installs_none_of_them_and_ships_xdist() -> None:
    core = set(map(_dist, PROJECT["dependencies"]))
    assert not core & {*HEAVY, "gdal"}
    assert "pytest-xdist" in core  # the -n of the mission and of farm runs


def _framework_modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if not name.startswith("harness.reference"):
            yield name, ast.parse(path.read_text())


def _imported(node: ast.AST) -> set[str]:
    if isinstance(node, ast.Import):
        return {alias.name.split(".")[0] for alias in node.names}
    if isinstance(node, ast.ImportFrom) and node.module and not node.level:
        return {node.module.split(".")[0]}
    return set()


def test_the_framework_imports_our_stacks_dependencies_nowhere() -> None:
    wrong = {
        (name, module)
        for name, tree in _framework_modules()
        for node in ast.walk(tree)
        for module in _imported(node) & set(extra.MODULES)
    }
    assert not wrong, "the framework needs none of the reference extra"


def test_the_framework_imports_the_geotiff_extra_only_where_it_reads_a_geotiff() -> None:
    # Module level would break `import harness.clip...` on a framework-only install.
    top = {
        (name, module)
        for name, tree in _framework_modules()
        for node in tree.body
        for module in _imported(node) & set(GEOTIFF)
    }
    assert not top


SITE = """\
import sys


class Absent:
    \"\"\"Finds these modules nowhere, before any other finder looks.\"\"\"

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name.partition(".")[0] in {names!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)


sys.meta_path.insert(0, Absent)
"""


@pytest.fixture
def bare_env(tmp_path: Path) -> dict[str, str]:
    """The environment of a process (and its children) that sees no extra installed."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITE.format(names=HEAVY))
    path = os.pathsep.join([str(site), str(REPO)])
    return {**os.environ, "PYTHONPATH": path}


def _run(args: list[str], env: dict[str, str], cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_the_simulation_hides_the_extras(bare_env: dict[str, str]) -> None:
    probe = "import json; from harness.reference import extra; print(json.dumps(extra.missing()))"
    done = _run([sys.executable, "-c", probe], bare_env)
    assert json.loads(done.stdout) == list(extra.MODULES), done.stderr


@pytest.mark.skipif(shutil.which("cc") is None, reason="no C compiler for ring-stack")
def test_a_black_box_stack_runs_end_to_end_without_the_extras(
    tmp_path: Path, bare_env: dict[str, str]
) -> None:
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("")  # the project root: its .cache is fresh
    command = json.dumps(
        [str(REPO / "examples/ring-stack/run"), "--agl-m", "300", "--rate-hz", "2"]
    )
    (project / "ring.scenario.yaml").write_text(
        textwrap.dedent(f"""\
            format_version: 2
            name: ring-bare
            clip:
              synth: {{preset: derkachi-10s, seed: 7, overrides: {{frame_px: 240}}}}
            pipeline: process
            process: {{command: {command}, speed: 10, rate_hz: 2}}
            gates:
              vpr_contract: {{descriptor_dim: 24}}
              retrieval_quality: {{recall_at: 5, min_recall: 0.6, min_queries: 15}}
              eskf_divergence: {{sigma_vpr_m: 25, warmup_s: 2, min_states: 20}}
            expect: eskf-divergence   # 10 s are too few for the filter to settle
            expect_reason: "^error budget"
            """)
    )
    done = _run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "ring.scenario.yaml"],
        bare_env,
        cwd=project,
    )
    out = done.stdout + done.stderr
    assert "Traceback" not in out
    assert re.search(r"\b1 xfailed\b", out), out  # the gates judged it: no infra-error


def test_our_stack_without_its_extra_names_the_install_line(bare_env: dict[str, str]) -> None:
    done = _run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--collect-only",
            "-q",
            "scenarios/eskf/oracle-healthy.scenario.yaml",
            "scenarios/process/ring-stack.scenario.yaml",
        ],
        bare_env,
    )
    out = done.stdout + done.stderr
    assert (
        "oracle-healthy.scenario.yaml:3:1: pipeline: pipeline 'reference' cannot be loaded" in out
    )
    assert "pip install '.[reference]'" in out and "Traceback" not in out
    assert "ring-stack.scenario.yaml::ring-stack" in out  # the black box still collects

    command = [sys.executable, "-m", "harness.commands.main", "provision", "scaffold"]
    done = _run([*command, "--out", os.devnull], bare_env)
    assert done.returncode == 1
    assert "pip install '.[reference]'" in done.stderr and "Traceback" not in done.stderr
